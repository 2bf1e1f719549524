/**
 * The load generator's global delivery window, as pure bookkeeping (no sockets, no timers):
 * deliveries sent and not yet received may not exceed `limit`. A broker may drop QoS 0 deliveries
 * under load, so after a stall the generator writes off what is outstanding as lost and goes on.
 * Which deliveries arrive late cannot be told apart (the payloads carry no sequence number), so a
 * delivery counts as new while anything is outstanding and as late once nothing is.
 */
export class DeliveryWindow {
  sent = 0
  delivered = 0
  lost = 0

  constructor(readonly limit: number) {}

  /** Deliveries sent and neither received nor written off (never negative, even if a broker duplicates). */
  outstanding(): number {
    return Math.max(0, this.sent - this.delivered - this.lost)
  }

  /** Deliveries that may be sent now. */
  room(): number {
    return this.limit - this.outstanding()
  }

  onSent(deliveries: number): void {
    this.sent += deliveries
  }

  onDelivered(): void {
    this.delivered++
    // More received than sent-minus-lost proves that written-off deliveries were late, not dropped:
    // take them back, or outstanding goes negative and room grows past the limit.
    if (this.lost > this.sent - this.delivered) this.lost = Math.max(0, this.sent - this.delivered)
  }

  /** A stall: give up on every outstanding delivery. Returns how many were written off. */
  writeOff(): number {
    const n = this.outstanding()
    this.lost += n
    return n
  }
}

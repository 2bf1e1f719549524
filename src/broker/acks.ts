import type { Clock } from '../core/clock.ts'
import { errorMessage, isFieldgateError } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { DeliveryEngine, InboundLink } from './delivery.ts'
import type { BrokerLimits } from './types.ts'

const REFUSAL_LOG_INTERVAL_MS = 10_000

/** The connection whose acknowledgements an AckOrder holds. Implemented by Connection. */
export interface AckingConnection extends InboundLink {
  readonly ctx: {
    readonly limits: Pick<BrokerLimits, 'maxInflight'>
    readonly logger: Logger
    readonly clock: Clock
    readonly delivery: Pick<DeliveryEngine, 'inboundQos2Stored' | 'inboundQos2Done'>
  }
  readonly clientId: string
  readonly v5: boolean
  isOpen(): boolean
  dropWill: boolean
  sendAck(cmd: 'puback' | 'pubrec', packetId: number, reasonCode?: number, reason?: string): void
  disconnect(reasonCode: number, reason: string): void
  pause(): void
  resume(): void
}

/**
 * Holds a connection's PUBACK/PUBREC for inbound QoS 1/2 publishes until the promise of each (in-process
 * subscribers, persistent sessions) settles, keeping acknowledgements in arrival order [MQTT-4.6.0-2].
 * Created on a connection's first publish that has to wait; reading pauses at max_inflight waiting.
 */
export class AckOrder {
  /** Packet ids whose PUBACK (QoS 1) or PUBREC (QoS 2) waits; one id may wait in both flows at once. */
  private readonly pubacks = new Set<number>()
  private readonly pubrecs = new Set<number>()
  private tail: Promise<void> | null = null
  private count = 0
  private paused = false
  /** Refused publishes not yet logged, and when the last refusal line was written. */
  private refusals = 0
  private refusalLoggedAt = -Infinity

  constructor(private readonly c: AckingConnection) {}

  /** Is the acknowledgement `cmd` for `packetId` waiting here? */
  waits(cmd: 'puback' | 'pubrec', packetId: number): boolean {
    return (cmd === 'puback' ? this.pubacks : this.pubrecs).has(packetId)
  }

  /** True when nothing waits: an acknowledgement with nothing to wait for may go out at once. */
  get idle(): boolean {
    return this.tail === null
  }

  add(cmd: 'puback' | 'pubrec', packetId: number, pending: Promise<void> | undefined): void {
    const max = this.c.ctx.limits.maxInflight
    ;(cmd === 'puback' ? this.pubacks : this.pubrecs).add(packetId)
    this.count++
    if (!this.paused && this.count >= max) {
      this.paused = true
      this.c.pause()
    }
    const prev = this.tail ?? Promise.resolve()
    const tail: Promise<void> = prev
      .then(() => pending)
      .then(
        () => this.settled(cmd, packetId, null),
        (err: unknown) => this.settled(cmd, packetId, err),
      )
      .then(() => {
        this.count--
        if (this.tail === tail) this.tail = null
        if (this.paused && this.count < this.c.ctx.limits.maxInflight) {
          this.paused = false
          this.c.resume()
        }
      })
    this.tail = tail
  }

  private settled(cmd: 'puback' | 'pubrec', packetId: number, err: unknown): void {
    const c = this.c
    ;(cmd === 'puback' ? this.pubacks : this.pubrecs).delete(packetId)
    if (cmd === 'puback') c.inboundCount--
    else if (err === null) c.ctx.delivery.inboundQos2Stored(c, packetId)
    // A refused QoS 2 message was never stored: free its id whatever happens to this connection, so the
    // client's resend is routed again instead of being answered as a duplicate.
    else c.ctx.delivery.inboundQos2Done(c, packetId)
    if (!c.isOpen()) return
    if (err === null) return c.sendAck(cmd, packetId)
    const full = isFieldgateError(err, 'QUEUE_FULL')
    // One line per client per 10 s: a full disk refuses every publish, and the log may live on that disk.
    this.refusals++
    const now = c.ctx.clock.now()
    if (now - this.refusalLoggedAt >= REFUSAL_LOG_INTERVAL_MS) {
      c.ctx.logger.warn({ clientId: c.clientId, packetId, refusals: this.refusals, err: errorMessage(err) }, 'in-process subscriber refused a publish')
      this.refusalLoggedAt = now
      this.refusals = 0
    }
    if (!c.v5) {
      // 3.1.1 has no negative acknowledgement: closing makes the client keep and resend the message
      c.dropWill = true
      c.disconnect(0x80, 'message could not be stored')
      return
    }
    c.sendAck(cmd, packetId, full ? 0x97 : 0x80, full ? 'queue full' : 'message could not be accepted')
  }
}

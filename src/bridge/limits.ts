import type { IConnackPacket } from 'mqtt'
import type { Qos } from '../core/index.ts'

/** What an MQTT 5 server announces in CONNACK and a client must respect [MQTT 5.0 §3.2.2.3]. */
export interface ServerLimits {
  /** QoS 1/2 publishes the server accepts unacknowledged at once [MQTT-3.3.4-9]. */
  receiveMaximum: number
  /** Publishes above it are a protocol error [MQTT-3.2.2-11]; we send at this QoS instead. */
  maximumQoS: Qos
  /** Retained publishes are a protocol error when false [MQTT-3.2.2-14]; we send them unretained. */
  retainAvailable: boolean
}

export const NO_LIMITS: ServerLimits = { receiveMaximum: 65535, maximumQoS: 2, retainAvailable: true }

export function limitsFromConnack(packet: IConnackPacket | undefined): ServerLimits {
  const p = packet?.properties
  if (!p) return NO_LIMITS
  const maximumQoS: Qos = p.maximumQoS === 0 ? 0 : p.maximumQoS === 1 ? 1 : 2
  return {
    receiveMaximum: p.receiveMaximum !== undefined && p.receiveMaximum > 0 ? p.receiveMaximum : 65535,
    maximumQoS,
    retainAvailable: p.retainAvailable !== false,
  }
}

/**
 * Holds QoS 1/2 publishes beyond the server's Receive Maximum in FIFO order, so a forwarder window
 * larger than what the server allows neither breaks the protocol nor reorders messages.
 */
export class InflightGate {
  private inflight = 0
  private waiters: Array<{ go: () => void; fail: (err: Error) => void }> = []

  constructor(private readonly limit: number) {}

  /** Takes a slot now when one is free and nobody waits (the fast path: no promise). */
  tryAcquire(): boolean {
    if (this.waiters.length > 0 || this.inflight >= this.limit) return false
    this.inflight++
    return true
  }

  /** Waits for a slot in arrival order; rejects if the connection goes away first. */
  wait(): Promise<void> {
    return new Promise<void>((go, fail) => this.waiters.push({ go, fail }))
  }

  release(): void {
    const next = this.waiters.shift()
    if (next) next.go() // the slot passes straight to the next in line
    else this.inflight = Math.max(0, this.inflight - 1)
  }

  rejectAll(err: Error): void {
    const w = this.waiters
    this.waiters = []
    this.inflight = 0
    for (const x of w) x.fail(err)
  }

  get waiting(): number {
    return this.waiters.length
  }
}

import type { IClientPublishOptions, IConnackPacket, MqttClient } from 'mqtt'
import { FieldgateError, type Clock, type Message, type Qos } from '../core/index.ts'
import { FramePublisher } from './frames.ts'
import { InflightGate, NO_LIMITS, limitsFromConnack, type ServerLimits } from './limits.ts'
import { corkForThisTurn } from './mqttjs.ts'

/** Counters of the publish path, kept by the uplink across its connections. */
export interface PublishCounters {
  published: number
  /** Messages whose v5 Message Expiry Interval ran out while they waited in the queue. */
  expired: number
  lastAckAt: number | null
}

interface Pending {
  resolve: () => void
  reject: (err: Error) => void
}

export function offlineError(uplink: string, reason: string): FieldgateError {
  return new FieldgateError('BRIDGE_OFFLINE', `uplink "${uplink}" is offline (${reason}); the message stays queued and is sent again once it reconnects`, {
    details: { uplink },
  })
}

/**
 * The publish path of one connection: the server's MQTT 5 limits (Receive Maximum as a FIFO gate,
 * Maximum QoS, Retain Available), the pre-encoded frame path for QoS 0/1 and MQTT.js for the rest, and
 * the publishes waiting for their acknowledgement, which all fail when the connection goes.
 */
export class ConnectionPublisher {
  limits: ServerLimits = NO_LIMITS
  private gate = new InflightGate(NO_LIMITS.receiveMaximum)
  private readonly pending = new Set<Pending>()
  private readonly frames: FramePublisher
  private closed = false

  constructor(
    private readonly client: MqttClient,
    private readonly v5: boolean,
    private readonly uplink: string,
    private readonly clock: Clock,
    private readonly counters: PublishCounters,
  ) {
    this.frames = new FramePublisher(client, v5)
  }

  /** CONNACK arrived: the server's limits hold from here on (3.1.1 has none). */
  connected(connack: IConnackPacket): void {
    this.limits = this.v5 ? limitsFromConnack(connack) : NO_LIMITS
    this.gate = new InflightGate(this.limits.receiveMaximum)
  }

  /** Publishes sent and not yet acknowledged (QoS 0: not yet written). */
  get inflight(): number {
    return this.pending.size
  }

  /** Publishes held back by the server's Receive Maximum. */
  get waiting(): number {
    return this.gate.waiting
  }

  /**
   * Resolves on PUBACK (QoS 1) / PUBCOMP (QoS 2), or once written (QoS 0). Rejects with BRIDGE_OFFLINE
   * when the server refuses it or the connection goes before the acknowledgement.
   */
  publish(m: Message): Promise<void> {
    const exp = m.properties?.messageExpiryInterval
    if (exp !== undefined && m.receivedAt !== undefined) {
      // [MQTT-3.3.2-6] forward the remaining lifetime; a message that expired while queued is dropped.
      const left = exp - Math.floor((this.clock.now() - m.receivedAt) / 1000)
      if (left <= 0) {
        this.counters.expired++
        return Promise.resolve()
      }
      if (left !== exp) m = { ...m, properties: { ...m.properties, messageExpiryInterval: left } }
    }
    const qos = m.qos > this.limits.maximumQoS ? this.limits.maximumQoS : m.qos
    const gate = this.gate
    if (qos === 0 || gate.tryAcquire()) return this.send(gate, m, qos)
    return gate.wait().then(() => this.send(gate, m, qos))
  }

  /** Writes what the frame path holds for this turn (before anything MQTT.js sends, to keep order). */
  flush(): void {
    this.frames.flush()
  }

  /** The connection is gone: every publish still waiting fails with `reason`. Returns how many there were. */
  close(reason: string): { inflight: number; waiting: number } {
    this.closed = true
    this.frames.close()
    const pending = [...this.pending]
    this.pending.clear()
    const waiting = this.gate.waiting
    this.gate.rejectAll(offlineError(this.uplink, reason))
    for (const p of pending) p.reject(offlineError(this.uplink, reason))
    return { inflight: pending.length, waiting }
  }

  private send(gate: InflightGate, m: Message, qos: Qos): Promise<void> {
    if (this.closed) return Promise.reject(offlineError(this.uplink, 'connection replaced'))
    // No named closures per publish: the bundle keeps names (esbuild keepNames), which costs a call each.
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { resolve, reject }
      this.pending.add(p)
      const retain = m.retain && this.limits.retainAvailable
      const props = this.v5 ? m.properties : undefined
      if (qos < 2 && this.frames.publish(m.topic, m.payload, qos === 1 ? 1 : 0, retain, props, (err) => this.settle(p, gate, qos, m.topic, err))) return
      this.frames.flush() // what the frame path queued goes first: order holds across both paths
      const opts: IClientPublishOptions = { qos, retain }
      if (props) opts.properties = props
      // Publishes of one turn (a forwarder refilling its window after a read full of PUBACKs) leave in one write.
      corkForThisTurn(this.client)
      this.client.publish(m.topic, m.payload, opts, (err) => this.settle(p, gate, qos, m.topic, err))
    })
  }

  private settle(p: Pending, gate: InflightGate, qos: Qos, topic: string, err: Error | null | undefined): void {
    if (!this.pending.delete(p)) return // already rejected by close()
    if (qos > 0) gate.release()
    if (err) {
      p.reject(new FieldgateError('BRIDGE_OFFLINE', `uplink "${this.uplink}": publish to ${topic} refused: ${err.message}`, { cause: err }))
      return
    }
    this.counters.published++
    if (qos > 0) this.counters.lastAckAt = this.clock.now()
    p.resolve()
  }
}

import type { Message, Qos } from '../core/types.ts'
import type { MqttBroker } from './broker.ts'
import type { Connection } from './connection.ts'
import { messageBytes, type Delivery, type Session } from './session.ts'

/**
 * Moves QoS 1/2 messages through a session: queue → in flight (sent) → released (QoS 2) → done,
 * persisting each step for persistent sessions, plus the inbound QoS 2 packet-id bookkeeping.
 */
export class DeliveryEngine {
  constructor(private readonly b: MqttBroker) {}

  deliver(s: Session, m: Message, qos: Qos, retain: boolean, subIds: number[] | null): void {
    const link = s.link
    if (qos === 0) {
      if (link !== null) link.sendPublish(m, 0, retain, 0, false, subIds)
      return
    }
    if (link === null && !s.persistent) return
    const limits = this.b.config.limits
    const bytes = messageBytes(m)
    const d: Delivery = { message: m, qos, retain, subIds, packetId: 0, state: 'queued', storeId: null, bytes }
    const direct = link !== null && s.queue.length === 0 && s.inflight.size < link.outMax
    if (!direct) {
      // 0 = no limit, as in Mosquitto
      if (limits.max_queued_messages > 0 && s.queue.length >= limits.max_queued_messages) {
        this.b.stats.limit('queued_messages', s.clientId, `queue holds ${s.queue.length} messages; new message dropped`)
        return
      }
      if (limits.max_queued_bytes > 0 && s.queuedBytes + bytes > limits.max_queued_bytes) {
        this.b.stats.limit('queued_bytes', s.clientId, `queue holds ${s.queuedBytes} bytes; new message dropped`)
        return
      }
    }
    if (s.persistent) this.persistAdd(s, d, m, qos, retain)
    if (direct) this.send(s, d)
    else s.enqueue(d)
  }

  /** Send queued messages while the in-flight window has room. */
  pump(s: Session): void {
    const link = s.link
    if (link === null) return
    while (s.queue.length > 0 && s.inflight.size < link.outMax && s.link === link) {
      const d = s.dequeue() as Delivery
      this.send(s, d)
    }
  }

  /** After a persistent session reconnects: resend what was in flight, DUP set [MQTT-4.4.0-1], then the queue. */
  resume(s: Session): void {
    const link = s.link
    if (link === null) return
    for (const d of [...s.inflight.values()]) {
      if (d.state === 'released') link.sendPubrel(d.packetId)
      else if (!link.sendPublish(d.message, d.qos, d.retain, d.packetId, true, d.subIds)) this.finish(s, d)
    }
    this.pump(s)
  }

  onPuback(s: Session, packetId: number): void {
    const d = s.inflight.get(packetId)
    if (d === undefined || d.qos !== 1) return
    this.finish(s, d)
    this.pump(s)
  }

  onPubrec(c: Connection, s: Session, packetId: number, reasonCode: number): void {
    const d = s.inflight.get(packetId)
    if (d === undefined || d.qos !== 2) {
      if (c.v5) c.sendAck('pubrel', packetId, 0x92, 'packet identifier not found')
      else c.sendPubrel(packetId)
      return
    }
    if (reasonCode >= 0x80) {
      this.finish(s, d)
      this.pump(s)
      return
    }
    if (d.state !== 'released') {
      d.state = 'released'
      if (s.persistent) this.persistUpdate(s, d)
    }
    c.sendPubrel(packetId)
  }

  onPubcomp(s: Session, packetId: number): void {
    const d = s.inflight.get(packetId)
    if (d === undefined || d.qos !== 2) return
    this.finish(s, d)
    this.pump(s)
  }

  /**
   * Inbound QoS 2: 'new' to route it, 'dup' when the id is already awaiting PUBREL (a resend of the same
   * message), 'reused' when a fresh publish reuses an id still in use on this connection. Changes nothing.
   */
  inboundQos2State(c: Connection, packetId: number, dup: boolean): 'new' | 'dup' | 'reused' {
    const seen = c.session?.incomingQos2?.get(packetId)
    if (seen === undefined) return 'new'
    return seen === c.serial && !dup ? 'reused' : 'dup'
  }

  /** Record an accepted inbound QoS 2 id until its PUBREL arrives (in memory; persisted by inboundQos2Stored). */
  inboundQos2Add(c: Connection, packetId: number): void {
    const s = c.session as Session
    ;(s.incomingQos2 ??= new Map()).set(packetId, c.serial)
  }

  /**
   * The message behind an inbound QoS 2 id is stored (in-process subscribers accepted it): only now is
   * the id persisted. Persisting it on receipt would let a crash before the queue's commit keep the id
   * without the message, and the client's resend would then be answered without being routed.
   */
  inboundQos2Stored(c: Connection, packetId: number): void {
    const s = c.session
    if (s === null || !s.persistent || s.incomingQos2?.has(packetId) !== true) return
    this.b.persistence.run(s, 'add inbound QoS 2 id', (st) => st.addIncomingQos2(s.clientId, packetId))
  }

  /** PUBREL received (or the publish was refused): the id is free again. */
  inboundQos2Done(c: Connection, packetId: number): boolean {
    const s = c.session
    const serial = s?.incomingQos2?.get(packetId)
    if (s === null || serial === undefined) return false
    s.incomingQos2?.delete(packetId)
    if (serial === c.serial) c.inboundCount--
    if (s.persistent) this.b.persistence.run(s, 'remove inbound QoS 2 id', (st) => st.removeIncomingQos2(s.clientId, packetId))
    return true
  }

  private send(s: Session, d: Delivery): void {
    const link = s.link
    if (link === null) return s.enqueue(d)
    // queued while the session was offline (possibly restored, identity unknown): check read access now
    const check = this.b.hooks.authorizeDelivery
    if (check !== undefined && !check(link.identity, d.message.topic)) return this.finish(s, d)
    d.packetId = s.allocPacketId()
    d.state = 'sent'
    s.addInflight(d)
    if (s.persistent) this.persistUpdate(s, d)
    if (!link.sendPublish(d.message, d.qos, d.retain, d.packetId, false, d.subIds)) this.finish(s, d)
  }

  private finish(s: Session, d: Delivery): void {
    s.removeInflight(d.packetId)
    if (!s.persistent) return
    // the store id is read when the chain reaches this step, after the add that assigns it
    this.b.persistence.run(s, 'remove delivered message', async (st) => {
      if (d.storeId !== null) await st.removeOutgoing(s.clientId, d.storeId)
    })
  }

  private persistAdd(s: Session, d: Delivery, m: Message, qos: Qos, retain: boolean): void {
    const stored: Message = qos === m.qos && retain === m.retain ? m : { ...m, qos, retain }
    this.b.persistence.run(s, 'queue message', async (st) => {
      const [id] = await st.addOutgoing(s.clientId, [stored])
      d.storeId = id ?? null
    })
  }

  private persistUpdate(s: Session, d: Delivery): void {
    this.b.persistence.run(s, 'update message state', async (st) => {
      if (d.storeId !== null && s.inflight.get(d.packetId) === d) await st.updateOutgoing(s.clientId, d.storeId, d.state, d.packetId)
    })
  }
}

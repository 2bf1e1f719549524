import type { Message, Qos } from '../core/types.ts'
import type { BrokerHooks } from './hooks.ts'
import type { Persistence } from './persist.ts'
import { messageBytes, type Delivery, type Session } from './session.ts'
import type { Stats } from './stats.ts'
import type { BrokerLimits } from './types.ts'

/** What the delivery engine uses of the broker. */
export interface DeliveryContext {
  readonly limits: Pick<BrokerLimits, 'max_queued_messages' | 'max_queued_bytes'>
  readonly stats: Pick<Stats, 'limit'>
  readonly persistence: Pick<Persistence, 'add' | 'run' | 'onStored'>
  readonly hooks: Pick<BrokerHooks, 'authorizeDelivery'>
}

/** The connection a QoS 2 PUBREC came in on, answered with PUBREL. */
export interface PubrelSender {
  readonly v5: boolean
  sendAck(cmd: 'pubrel', packetId: number, reasonCode?: number, reason?: string): void
  sendPubrel(packetId: number): void
}

/** The inbound side of a connection: its session, its serial and its count of unacknowledged QoS 1/2 publishes. */
export interface InboundLink {
  readonly session: Session | null
  readonly serial: number
  inboundCount: number
}

/**
 * Moves QoS 1/2 messages through a session: queue → in flight (sent) → released (QoS 2) → done,
 * persisting each step for persistent sessions, plus the inbound QoS 2 packet-id bookkeeping.
 */
export class DeliveryEngine {
  constructor(private readonly ctx: DeliveryContext) {}

  /**
   * Returns, for a persistent session, a promise that resolves once the message is durably queued for
   * it: the publisher's PUBACK/PUBREC waits for it, as for the uplink queue. It rejects (already
   * handled and logged) if the message could not be stored.
   */
  deliver(s: Session, m: Message, qos: Qos, retain: boolean, subIds: number[] | null): Promise<void> | undefined {
    const link = s.link
    if (qos === 0) {
      if (link !== null) link.sendPublish(m, 0, retain, 0, false, subIds)
      return undefined
    }
    if (link === null && !s.persistent) return undefined
    const limits = this.ctx.limits
    const bytes = messageBytes(m)
    const d: Delivery = { message: m, qos, retain, subIds, packetId: 0, state: 'queued', storeId: null, storeTail: null, bytes }
    const direct = link !== null && s.queue.length === 0 && s.inflight.size < link.outMax
    if (!direct) {
      // 0 = no limit, as in Mosquitto
      if (limits.max_queued_messages > 0 && s.queue.length >= limits.max_queued_messages) {
        this.ctx.stats.limit('queued_messages', s.clientId, `queue holds ${s.queue.length} messages; new message dropped`)
        return undefined
      }
      if (limits.max_queued_bytes > 0 && s.queuedBytes + bytes > limits.max_queued_bytes) {
        this.ctx.stats.limit('queued_bytes', s.clientId, `queue holds ${s.queuedBytes} bytes; new message dropped`)
        return undefined
      }
    }
    // stored before it is sent, so that the 'sent' update and the removal find it
    const durable = s.persistent ? this.ctx.persistence.add(s, d, qos === m.qos && retain === m.retain ? m : { ...m, qos, retain }) : undefined
    if (direct) this.send(s, d)
    else s.enqueue(d)
    return durable
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

  onPubrec(c: PubrelSender, s: Session, packetId: number, reasonCode: number): void {
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
  inboundQos2State(c: InboundLink, packetId: number, dup: boolean): 'new' | 'dup' | 'reused' {
    const seen = c.session?.incomingQos2?.get(packetId)
    if (seen === undefined) return 'new'
    return seen === c.serial && !dup ? 'reused' : 'dup'
  }

  /** Record an accepted inbound QoS 2 id until its PUBREL arrives (in memory; persisted by inboundQos2Stored). */
  inboundQos2Add(c: InboundLink, packetId: number): void {
    const s = c.session as Session
    ;(s.incomingQos2 ??= new Map()).set(packetId, c.serial)
  }

  /**
   * The message behind an inbound QoS 2 id is stored (in-process subscribers accepted it): only now is
   * the id persisted. Persisting it on receipt would let a crash before the queue's commit keep the id
   * without the message, and the client's resend would then be answered without being routed.
   */
  inboundQos2Stored(c: InboundLink, packetId: number): void {
    const s = c.session
    if (s === null || !s.persistent || s.incomingQos2?.has(packetId) !== true) return
    this.ctx.persistence.run(s, 'add inbound QoS 2 id', (st) => st.addIncomingQos2(s.clientId, packetId))
  }

  /** PUBREL received (or the publish was refused): the id is free again. */
  inboundQos2Done(c: InboundLink, packetId: number): boolean {
    const s = c.session
    const serial = s?.incomingQos2?.get(packetId)
    if (s === null || serial === undefined) return false
    s.incomingQos2?.delete(packetId)
    if (serial === c.serial) c.inboundCount--
    if (s.persistent) this.ctx.persistence.run(s, 'remove inbound QoS 2 id', (st) => st.removeIncomingQos2(s.clientId, packetId))
    return true
  }

  private send(s: Session, d: Delivery): void {
    const link = s.link
    if (link === null) return s.enqueue(d)
    // queued while the session was offline (possibly restored, identity unknown): check read access now
    const check = this.ctx.hooks.authorizeDelivery
    if (check !== undefined && !check(link.identity, d.message.topic)) return this.finish(s, d)
    d.packetId = s.allocPacketId()
    d.state = 'sent'
    s.addInflight(d)
    // QoS 1: a message restored as queued goes out again under a new id, which the receiver cannot tell
    // from a resend; not storing 'sent' saves a write per message. QoS 2 keeps its id, or the receiver
    // would take the resend for a second message.
    if (s.persistent && d.qos === 2) this.persistUpdate(s, d)
    if (!link.sendPublish(d.message, d.qos, d.retain, d.packetId, false, d.subIds)) this.finish(s, d)
  }

  private finish(s: Session, d: Delivery): void {
    s.removeInflight(d.packetId)
    if (!s.persistent) return
    this.ctx.persistence.onStored(s, d, 'remove delivered message', (st, id) => st.removeOutgoing(s.clientId, id))
  }

  private persistUpdate(s: Session, d: Delivery): void {
    const state = d.state
    this.ctx.persistence.onStored(s, d, 'update message state', async (st, id) => {
      // skipped once finished (removed) or superseded; the session may have been deleted meanwhile too
      if (s.inflight.get(d.packetId) === d && d.state === state) await st.updateOutgoing(s.clientId, id, state, d.packetId)
    })
  }
}

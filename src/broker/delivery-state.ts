import type { StoredDelivery } from '../core/persistence.ts'
import type { Message, Qos } from '../core/types.ts'
import { messageBytes, type Delivery } from './session.ts'

/** A session's delivery fields: all the state machine reads and changes. Implemented by Session. */
export interface DeliverySession {
  readonly clientId: string
  readonly persistent: boolean
  /** Outbound in-flight window of the live connection (min(Receive Maximum, max_inflight)); 0 while offline. */
  readonly window: number
  readonly queue: readonly Delivery[]
  readonly queuedBytes: number
  readonly inflight: ReadonlyMap<number, Delivery>
  enqueue(d: Delivery): void
  dequeue(): Delivery | undefined
  addInflight(d: Delivery): void
  removeInflight(packetId: number): void
  allocPacketId(): number
  /** Keep new packet ids clear of one restored from the store. */
  notePacketId(packetId: number): void
  /** Inbound QoS 2 packet ids awaiting PUBREL → the connection serial they arrived on (-1: restored). */
  incomingQos2: Map<number, number> | null
}

export interface DeliveryLimits {
  /** 0 = no limit, as in Mosquitto. */
  readonly maxQueuedMessages: number
  readonly maxQueuedBytes: number
}

/**
 * What the state machine asks of its shell: packets to send, session-store writes to make, and one
 * question (read access). `W` is the shell's handle on a durable write, handed back to the publisher.
 * Commands are calls rather than objects in a list: `deliver` runs once per subscriber of every message.
 */
export interface DeliveryCommands<S extends DeliverySession, W> {
  /** QoS 0 PUBLISH to the live connection. */
  publishQos0(s: S, m: Message, retain: boolean, subIds: number[] | null): void
  /** QoS 1/2 PUBLISH with `d.packetId`; false when it did not go out (expired, too large for the client, slow consumer): the delivery ends. */
  publish(s: S, d: Delivery, dup: boolean): boolean
  /** PUBREL for a released QoS 2 message, resent after a reconnect. */
  pubrel(s: S, packetId: number): void
  /** May the session's client read `d`'s topic now? Asked when a queued message is first sent. */
  mayDeliver(s: S, d: Delivery): boolean
  /** A persistent session's new message: store it before anything else happens to it. */
  store(s: S, d: Delivery): W
  /** A stored QoS 2 message changed state ('sent' with its packet id, or 'released'). */
  update(s: S, d: Delivery): void
  /** A stored message is done (acknowledged, refused by the client, or not deliverable). */
  remove(s: S, d: Delivery): void
  /** A new message was dropped: the session's queue is at a limit. */
  full(s: S, limit: 'queued_messages' | 'queued_bytes'): void
  /** A persistent session's inbound QoS 2 id is to be stored / removed. */
  storeInbound(s: S, packetId: number): void
  removeInbound(s: S, packetId: number): void
}

/** What a PUBREC asks for: PUBREL, a PUBREL saying the id is unknown, or nothing (the client refused the message). */
export type PubrecAnswer = 'pubrel' | 'unknown' | 'none'

/** What PUBREL found: an unknown id, or an id accepted on another connection / on this one. */
export const INBOUND_UNKNOWN = 0
export const INBOUND_OTHER = 1
export const INBOUND_THIS = 2
export type InboundDone = typeof INBOUND_UNKNOWN | typeof INBOUND_OTHER | typeof INBOUND_THIS

/**
 * QoS 1/2 delivery to one session, without IO: queue → in flight ('sent') → 'released' (QoS 2) → done,
 * and the inbound QoS 2 ids awaiting PUBREL. Inputs are events (a message to deliver, acks, reconnect);
 * outputs are `DeliveryCommands`. The window is never exceeded by new sends, a packet id is never
 * given to a second message while in flight, and messages are first sent in the order delivered.
 */
export class DeliveryState<S extends DeliverySession, W> {
  constructor(
    private readonly limits: DeliveryLimits,
    private readonly out: DeliveryCommands<S, W>,
  ) {}

  /** A message for `s`. Returns the store's handle for a persistent session's QoS 1/2 message that was kept. */
  deliver(s: S, m: Message, qos: Qos, retain: boolean, subIds: number[] | null): W | undefined {
    const window = s.window
    if (qos === 0) {
      // QoS 0 is not queued for offline sessions
      if (window > 0) this.out.publishQos0(s, m, retain, subIds)
      return undefined
    }
    if (window === 0 && !s.persistent) return undefined
    const bytes = messageBytes(m)
    const direct = window > 0 && s.queue.length === 0 && s.inflight.size < window
    if (!direct) {
      const limits = this.limits
      if (limits.maxQueuedMessages > 0 && s.queue.length >= limits.maxQueuedMessages) {
        this.out.full(s, 'queued_messages')
        return undefined
      }
      if (limits.maxQueuedBytes > 0 && s.queuedBytes + bytes > limits.maxQueuedBytes) {
        this.out.full(s, 'queued_bytes')
        return undefined
      }
    }
    const d: Delivery = { message: m, qos, retain, subIds, packetId: 0, state: 'queued', storeId: null, storeTail: null, bytes }
    // stored before it is sent, so that the 'sent' update and the removal come after the add
    const durable = s.persistent ? this.out.store(s, d) : undefined
    if (direct) this.send(s, d)
    else s.enqueue(d)
    return durable
  }

  /**
   * A message read back from the store at start, in store order: a QoS 2 message stored as 'sent' or
   * 'released' is in flight again under its packet id (the receiver may hold that id); anything else,
   * QoS 1 'sent' included (not stored), is queued and goes out under a new id.
   */
  restore(s: S, stored: StoredDelivery): void {
    const m = stored.message
    const d: Delivery = { message: m, qos: m.qos, retain: m.retain, subIds: null, packetId: 0, state: 'queued', storeId: stored.id, storeTail: null, bytes: messageBytes(m) }
    const id = stored.packetId
    if (stored.state !== 'queued' && id !== undefined && !s.inflight.has(id)) {
      d.state = stored.state
      d.packetId = id
      s.addInflight(d)
      s.notePacketId(id)
    } else s.enqueue(d)
  }

  /** Inbound QoS 2 ids read back from the store: awaiting PUBREL, from no connection of this process. */
  restoreInbound(s: S, packetIds: readonly number[]): void {
    if (packetIds.length > 0) s.incomingQos2 = new Map(packetIds.map((id) => [id, -1]))
  }

  /** Send queued messages while the window has room. */
  pump(s: S): void {
    while (s.queue.length > 0 && s.inflight.size < s.window) this.send(s, s.dequeue() as Delivery)
  }

  /** A persistent session reconnected: resend what was in flight, DUP set [MQTT-4.4.0-1], then the queue. */
  resume(s: S): void {
    if (s.window === 0) return
    for (const d of [...s.inflight.values()]) {
      if (d.state === 'released') this.out.pubrel(s, d.packetId)
      else if (!this.out.publish(s, d, true)) this.finish(s, d)
    }
    this.pump(s)
  }

  onPuback(s: S, packetId: number): void {
    const d = s.inflight.get(packetId)
    if (d === undefined || d.qos !== 1) return
    this.finish(s, d)
    this.pump(s)
  }

  onPubrec(s: S, packetId: number, reasonCode: number): PubrecAnswer {
    const d = s.inflight.get(packetId)
    if (d === undefined || d.qos !== 2) return 'unknown'
    if (reasonCode >= 0x80) {
      // v5: the client refused the message; the flow ends here and its slot is free
      this.finish(s, d)
      this.pump(s)
      return 'none'
    }
    if (d.state !== 'released') {
      d.state = 'released'
      if (s.persistent) this.out.update(s, d)
    }
    return 'pubrel'
  }

  /** PUBCOMP ends a released QoS 2 message; one for a message not yet PUBREC'd is ignored (the client has not answered it). */
  onPubcomp(s: S, packetId: number): void {
    const d = s.inflight.get(packetId)
    if (d === undefined || d.qos !== 2 || d.state !== 'released') return
    this.finish(s, d)
    this.pump(s)
  }

  /**
   * Inbound QoS 2 PUBLISH on connection `serial`: 'new' to route it, 'dup' when the id already awaits
   * PUBREL (a resend of the same message, not routed again [MQTT-4.3.3-10]), 'reused' when a fresh
   * publish reuses an id still in use on this connection. Changes nothing.
   */
  inboundQos2State(s: S | null, serial: number, packetId: number, dup: boolean): 'new' | 'dup' | 'reused' {
    const seen = s?.incomingQos2?.get(packetId)
    if (seen === undefined) return 'new'
    return seen === serial && !dup ? 'reused' : 'dup'
  }

  /** An inbound QoS 2 id accepted on connection `serial`; it awaits PUBREL. */
  inboundQos2Add(s: S, serial: number, packetId: number): void {
    ;(s.incomingQos2 ??= new Map()).set(packetId, serial)
  }

  /**
   * The message behind an inbound QoS 2 id is stored (in-process subscribers accepted it): only now is
   * the id stored. Storing it on receipt would let a crash before the queue's commit keep the id
   * without the message, and the client's resend would then be answered without being routed.
   */
  inboundQos2Stored(s: S | null, packetId: number): void {
    if (s === null || !s.persistent || s.incomingQos2?.has(packetId) !== true) return
    this.out.storeInbound(s, packetId)
  }

  /** PUBREL received (or the publish was refused): the id is free again. */
  inboundQos2Done(s: S | null, serial: number, packetId: number): InboundDone {
    const seen = s?.incomingQos2?.get(packetId)
    if (s === null || seen === undefined) return INBOUND_UNKNOWN
    s.incomingQos2?.delete(packetId)
    if (s.persistent) this.out.removeInbound(s, packetId)
    return seen === serial ? INBOUND_THIS : INBOUND_OTHER
  }

  private send(s: S, d: Delivery): void {
    // queued while the session was offline (possibly restored, identity unknown): check read access now
    if (!this.out.mayDeliver(s, d)) return this.finish(s, d)
    d.packetId = s.allocPacketId()
    d.state = 'sent'
    s.addInflight(d)
    // QoS 1: a message restored as queued goes out again under a new id, which the receiver cannot tell
    // from a resend; not storing 'sent' saves a write per message. QoS 2 keeps its id, or the receiver
    // would take the resend for a second message.
    if (s.persistent && d.qos === 2) this.out.update(s, d)
    if (!this.out.publish(s, d, false)) this.finish(s, d)
  }

  private finish(s: S, d: Delivery): void {
    if (d.packetId !== 0 && s.inflight.get(d.packetId) === d) s.removeInflight(d.packetId)
    if (s.persistent) this.out.remove(s, d)
  }
}

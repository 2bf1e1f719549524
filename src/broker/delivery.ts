import type { Message, Qos } from '../core/types.ts'
import { DeliveryState, INBOUND_THIS, INBOUND_UNKNOWN, type DeliveryCommands } from './delivery-state.ts'
import type { BrokerHooks } from './hooks.ts'
import type { Persistence } from './persist.ts'
import type { Delivery, Session, SessionLink } from './session.ts'
import type { Stats } from './stats.ts'
import type { BrokerLimits } from './types.ts'

/** What the delivery engine uses of the broker. */
export interface DeliveryContext {
  readonly limits: Pick<BrokerLimits, 'maxQueuedMessages' | 'maxQueuedBytes'>
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
 * The IO shell around `DeliveryState` (delivery-state.ts, the QoS 1/2 state machine): runs its
 * commands on the session's live connection and, for persistent sessions, on the session store, and
 * answers acks on the connection they came in on.
 */
export class DeliveryEngine implements DeliveryCommands<Session, Promise<void>> {
  readonly state: DeliveryState<Session, Promise<void>>

  constructor(private readonly ctx: DeliveryContext) {
    this.state = new DeliveryState(ctx.limits, this)
  }

  /**
   * Returns, for a persistent session, a promise that resolves once the message is durably queued for
   * it: the publisher's PUBACK/PUBREC waits for it, as for the uplink queue. It rejects (already
   * handled and logged) if the message could not be stored.
   */
  deliver(s: Session, m: Message, qos: Qos, retain: boolean, subIds: number[] | null): Promise<void> | undefined {
    return this.state.deliver(s, m, qos, retain, subIds)
  }

  /** After a persistent session reconnects: resend what was in flight, then the queue. */
  resume(s: Session): void {
    this.state.resume(s)
  }

  onPuback(s: Session, packetId: number): void {
    this.state.onPuback(s, packetId)
  }

  onPubrec(c: PubrelSender, s: Session, packetId: number, reasonCode: number): void {
    const answer = this.state.onPubrec(s, packetId, reasonCode)
    if (answer === 'pubrel') c.sendPubrel(packetId)
    else if (answer === 'unknown') {
      if (c.v5) c.sendAck('pubrel', packetId, 0x92, 'packet identifier not found')
      else c.sendPubrel(packetId)
    }
  }

  onPubcomp(s: Session, packetId: number): void {
    this.state.onPubcomp(s, packetId)
  }

  /** Inbound QoS 2: 'new' to route it, 'dup' for a resend of an id awaiting PUBREL, 'reused' for a fresh publish on an id in use. */
  inboundQos2State(c: InboundLink, packetId: number, dup: boolean): 'new' | 'dup' | 'reused' {
    return this.state.inboundQos2State(c.session, c.serial, packetId, dup)
  }

  inboundQos2Add(c: InboundLink, packetId: number): void {
    this.state.inboundQos2Add(c.session as Session, c.serial, packetId)
  }

  inboundQos2Stored(c: InboundLink, packetId: number): void {
    this.state.inboundQos2Stored(c.session, packetId)
  }

  /** PUBREL received (or the publish was refused): the id is free again. False for an unknown id. */
  inboundQos2Done(c: InboundLink, packetId: number): boolean {
    const found = this.state.inboundQos2Done(c.session, c.serial, packetId)
    if (found === INBOUND_THIS) c.inboundCount--
    return found !== INBOUND_UNKNOWN
  }

  // DeliveryCommands: called by the state machine only.

  publishQos0(s: Session, m: Message, retain: boolean, subIds: number[] | null): void {
    ;(s.link as SessionLink).sendPublish(m, 0, retain, 0, false, subIds)
  }

  publish(s: Session, d: Delivery, dup: boolean): boolean {
    return (s.link as SessionLink).sendPublish(d.message, d.qos, d.retain, d.packetId, dup, d.subIds)
  }

  pubrel(s: Session, packetId: number): void {
    ;(s.link as SessionLink).sendPubrel(packetId)
  }

  mayDeliver(s: Session, d: Delivery): boolean {
    const check = this.ctx.hooks.authorizeDelivery
    return check === undefined || check((s.link as SessionLink).identity, d.message.topic)
  }

  store(s: Session, d: Delivery): Promise<void> {
    const m = d.message
    return this.ctx.persistence.add(s, d, d.qos === m.qos && d.retain === m.retain ? m : { ...m, qos: d.qos, retain: d.retain })
  }

  update(s: Session, d: Delivery): void {
    const state = d.state
    this.ctx.persistence.onStored(s, d, 'update message state', async (st, id) => {
      // skipped once finished (removed) or superseded; the session may have been deleted meanwhile too
      if (s.inflight.get(d.packetId) === d && d.state === state) await st.updateOutgoing(s.clientId, id, state, d.packetId)
    })
  }

  remove(s: Session, d: Delivery): void {
    this.ctx.persistence.onStored(s, d, 'remove delivered message', (st, id) => st.removeOutgoing(s.clientId, id))
  }

  full(s: Session, limit: 'queued_messages' | 'queued_bytes'): void {
    if (limit === 'queued_messages') this.ctx.stats.limit(limit, s.clientId, `queue holds ${s.queue.length} messages; new message dropped`)
    else this.ctx.stats.limit(limit, s.clientId, `queue holds ${s.queuedBytes} bytes; new message dropped`)
  }

  storeInbound(s: Session, packetId: number): void {
    this.ctx.persistence.run(s, 'add inbound QoS 2 id', (st) => st.addIncomingQos2(s.clientId, packetId))
  }

  removeInbound(s: Session, packetId: number): void {
    this.ctx.persistence.run(s, 'remove inbound QoS 2 id', (st) => st.removeIncomingQos2(s.clientId, packetId))
  }
}

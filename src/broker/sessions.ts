import type { Clock } from '../core/clock.ts'
import type { LoadedSession } from '../core/persistence.ts'
import type { Message } from '../core/types.ts'
import type { DeliveryState } from './delivery-state.ts'
import type { ClientIdentity } from './hooks.ts'
import type { Persistence } from './persist.ts'
import { Session, type SessionLink, type Subscription, type WillSpec } from './session.ts'
import { parseFilter } from './topics.ts'
import type { TopicTrie } from './trie.ts'

/** What the session registry uses of the broker. */
export interface SessionsContext {
  readonly clock: Clock
  readonly trie: Pick<TopicTrie, 'add' | 'remove'>
  readonly persistence: Pick<Persistence, 'saveSession' | 'deleteSession'>
  /** Messages and inbound QoS 2 ids read back from the store go through the delivery state machine. */
  readonly delivery: Pick<DeliveryState<Session, unknown>, 'restore' | 'restoreInbound'>
  /** Publish a will now (authorised as its session's client); never throws. */
  publishWill(m: Message, s: Session): void
}

/** A connection as the registry sees it when CONNECT attaches it to a session, and when it closes. */
export interface SessionClient extends SessionLink {
  readonly clientId: string
  readonly protocolVersion: 3 | 4 | 5
  readonly identity: ClientIdentity
  session: Session | null
  readonly will: WillSpec | null
  readonly dropWill: boolean
}

const MAX_TIMER_MS = 2 ** 31 - 1

/** Session lifecycle: attach on CONNECT (take-over, clean start), detach, expiry, wills, restore. */
export class SessionRegistry {
  readonly map = new Map<string, Session>()

  constructor(private readonly ctx: SessionsContext) {}

  attach(c: SessionClient, clean: boolean, expiry: number): { session: Session; present: boolean } {
    const id = c.clientId
    const old = this.map.get(id)
    // [MQTT-3.1.4-3] an existing connection with this client id is closed first
    if (old?.link != null) old.link.disconnect(0x8e, 'session taken over by another connection')
    let s = this.map.get(id)
    if (s !== undefined && clean) {
      this.drop(s)
      s = undefined
    }
    let present = false
    if (s !== undefined) {
      present = true
      if (s.expiryTimer !== null) this.ctx.clock.clearTimeout(s.expiryTimer)
      s.expiryTimer = null
      if (s.will !== null) {
        // reconnecting before the will delay elapsed cancels the will [MQTT-3.1.3-9]
        if (s.will.timer !== null) this.ctx.clock.clearTimeout(s.will.timer)
        s.will = null
      }
      s.protocolVersion = c.protocolVersion
      s.expiryInterval = expiry
    } else {
      s = new Session(id, c.protocolVersion, expiry)
      this.map.set(id, s)
    }
    s.link = c
    s.identity = c.identity
    s.disconnectedAt = null
    c.session = s
    if (s.persistent) {
      this.ctx.persistence.saveSession(s)
      s.stored = true
    } else if (s.stored) {
      this.ctx.persistence.deleteSession(s)
      s.stored = false
    }
    return { session: s, present }
  }

  detach(c: SessionClient): void {
    const s = c.session
    if (s === null || s.link !== c) return
    s.link = null
    s.disconnectedAt = this.ctx.clock.now()
    if (c.will !== null && !c.dropWill) this.handleWill(s, c.will)
    if (!s.persistent) return this.drop(s)
    this.ctx.persistence.saveSession(s)
    this.scheduleExpiry(s)
  }

  /** End a session: its will (if pending) goes out, its subscriptions and stored state go away. */
  drop(s: Session): void {
    if (this.map.get(s.clientId) === s) this.map.delete(s.clientId)
    if (s.expiryTimer !== null) this.ctx.clock.clearTimeout(s.expiryTimer)
    s.expiryTimer = null
    if (s.will !== null) this.fireWill(s)
    for (const sub of s.subscriptions.values()) this.ctx.trie.remove(sub)
    s.clearSubscriptions()
    s.queue = []
    s.queuedBytes = 0
    s.clearInflight()
    if (s.stored) this.ctx.persistence.deleteSession(s)
    s.stored = false
  }

  /** `elapsedMs`: time already spent disconnected (a session restored after a restart). */
  private scheduleExpiry(s: Session, elapsedMs = 0): void {
    if (s.expiryInterval >= 0xffffffff) return
    s.expiryTimer = this.ctx.clock.setTimeout(() => {
      s.expiryTimer = null
      if (s.link === null) this.drop(s)
    }, Math.min(MAX_TIMER_MS, Math.max(0, s.expiryInterval * 1000 - elapsedMs)))
    s.expiryTimer.unref?.()
  }

  private handleWill(s: Session, will: WillSpec): void {
    const delay = Math.min(will.delay, s.expiryInterval)
    if (delay <= 0) {
      this.ctx.publishWill(will.message, s)
      return
    }
    // v5 Will Delay Interval [MQTT-3.1.3-9]: wait, unless the session ends or resumes first
    s.will = { message: will.message, timer: null }
    s.will.timer = this.ctx.clock.setTimeout(() => this.fireWill(s), Math.min(MAX_TIMER_MS, delay * 1000))
    s.will.timer.unref?.()
  }

  private fireWill(s: Session): void {
    const w = s.will
    if (w === null) return
    s.will = null
    if (w.timer !== null) this.ctx.clock.clearTimeout(w.timer)
    this.ctx.publishWill(w.message, s)
  }

  /** Rebuild sessions from the store at start; expired ones are deleted. */
  restore(loaded: LoadedSession[]): void {
    const now = this.ctx.clock.now()
    const limits = { maxLength: 65535, maxLevels: 65535 }
    for (const { session: rec, outgoing, incomingQos2 } of loaded) {
      const s = new Session(rec.clientId, rec.protocolVersion, rec.expiryInterval)
      s.stored = true
      const gone = rec.disconnectedAt ?? now
      if (rec.expiryInterval < 0xffffffff && now - gone >= rec.expiryInterval * 1000) {
        this.ctx.persistence.deleteSession(s)
        continue
      }
      s.disconnectedAt = gone
      for (const r of rec.subscriptions) {
        const parsed = parseFilter(r.filter, limits)
        if (typeof parsed === 'string') continue
        const sub: Subscription = {
          raw: r.filter,
          filter: parsed.filter,
          share: parsed.share,
          qos: r.qos,
          noLocal: r.noLocal ?? false,
          retainAsPublished: r.retainAsPublished ?? false,
          retainHandling: r.retainHandling ?? 0,
          subscriptionId: r.subscriptionId,
          session: s,
          local: null,
          noLocalOrigin: undefined,
        }
        s.setSubscription(sub)
        this.ctx.trie.add(sub)
      }
      for (const o of outgoing) this.ctx.delivery.restore(s, o)
      this.ctx.delivery.restoreInbound(s, incomingQos2)
      this.map.set(s.clientId, s)
      this.scheduleExpiry(s, now - gone)
    }
  }
}

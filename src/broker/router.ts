import { errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { Message, Qos } from '../core/types.ts'
import type { DeliveryEngine } from './delivery.ts'
import type { BrokerHooks } from './hooks.ts'
import type { Session, Subscription } from './session.ts'
import type { Stats } from './stats.ts'
import type { SharedGroup, TopicTrie } from './trie.ts'

/** What routing uses of the broker. */
export interface RouterContext {
  readonly trie: Pick<TopicTrie, 'match'>
  readonly hooks: Pick<BrokerHooks, 'authorizeDelivery'>
  readonly delivery: Pick<DeliveryEngine, 'deliver'>
  readonly stats: Pick<Stats, 'dropped'>
  readonly logger: Logger
}

let routeSeq = 0

/**
 * Fan a message out to every matching subscription. Overlapping subscriptions of one session are
 * merged into one delivery at the highest granted QoS with all subscription identifiers
 * [MQTT-3.3.4-2] [MQTT-3.3.4-3]; shared groups get one member each, round-robin. In-process handlers are
 * called synchronously in publish order. The promises they return, and those of messages stored for
 * persistent sessions, are collected so the publisher's acknowledgement can wait for them. Returns
 * undefined when nothing needs waiting for.
 */
export function route(b: RouterContext, m: Message): Promise<void> | undefined {
  let waits: Array<Promise<void>> | null = null
  const r = b.trie.match(m.topic)
  const mark = ++routeSeq
  const subs = r.subs
  let locals = false
  for (let i = 0; i < subs.length; i++) {
    const sub = subs[i] as Subscription
    if (sub.local !== null) {
      locals = true
      continue
    }
    const s = sub.session
    if (s === null || !deliverable(b, sub, m)) continue
    const qos = (m.qos < sub.qos ? m.qos : sub.qos) as Qos
    const retain = sub.retainAsPublished && m.retain
    if (s.routeMark !== mark) {
      s.routeMark = mark
      s.routeQos = qos
      s.routeRetain = retain
      s.routeSubIds = sub.subscriptionId === undefined ? null : [sub.subscriptionId]
    } else {
      if (qos > s.routeQos) s.routeQos = qos
      if (retain) s.routeRetain = true
      if (sub.subscriptionId !== undefined) (s.routeSubIds ??= []).push(sub.subscriptionId)
    }
  }
  for (let i = 0; i < subs.length; i++) {
    const s = (subs[i] as Subscription).session
    if (s === null || s.routeMark !== mark) continue
    s.routeMark = 0
    const w = safeDeliver(b, s, m, s.routeQos, s.routeRetain, s.routeSubIds)
    if (w !== undefined) (waits ??= []).push(w)
  }
  let localPicks: Subscription[] | null = null
  for (const g of r.groups) {
    const sub = pickMember(g)
    if (sub === null) continue
    if (sub.local !== null) (localPicks ??= []).push(sub)
    else if (sub.session !== null && deliverable(b, sub, m)) {
      const qos = (m.qos < sub.qos ? m.qos : sub.qos) as Qos
      const w = safeDeliver(b, sub.session, m, qos, sub.retainAsPublished && m.retain, sub.subscriptionId === undefined ? null : [sub.subscriptionId])
      if (w !== undefined) (waits ??= []).push(w)
    }
  }
  // In-process handlers last: one may publish synchronously, and that nested route must not find
  // this route's marks half-done.
  if (locals) {
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i] as Subscription
      if (sub.local === null) continue
      const w = callLocal(b, sub, m)
      if (w !== undefined) (waits ??= []).push(w)
    }
  }
  if (localPicks !== null) {
    for (const sub of localPicks) {
      const w = callLocal(b, sub, m)
      if (w !== undefined) (waits ??= []).push(w)
    }
  }
  if (waits === null) return undefined
  if (waits.length === 1) return waits[0]
  return Promise.all(waits).then(() => undefined)
}

/** One subscriber's delivery: whatever it throws costs that subscriber this message, not the others. */
export function safeDeliver(b: Pick<RouterContext, 'delivery' | 'stats'>, s: Session, m: Message, qos: Qos, retain: boolean, subIds: number[] | null): Promise<void> | undefined {
  try {
    return b.delivery.deliver(s, m, qos, retain, subIds)
  } catch (err) {
    b.stats.dropped('deliver', s.clientId, m.topic, err)
    return undefined
  }
}

function deliverable(b: RouterContext, sub: Subscription, m: Message): boolean {
  const s = sub.session
  if (s === null) return false
  if (sub.noLocal && m.origin === s.clientId) return false // [MQTT-3.8.3-3]
  const check = b.hooks.authorizeDelivery
  if (check !== undefined && s.identity !== null && !check(s.identity, m.topic)) return false
  return true
}

/** Round-robin over online members; if none is online, a persistent member's queue gets it. */
function pickMember(g: SharedGroup): Subscription | null {
  const n = g.subs.length
  if (n === 0) return null
  for (let i = 0; i < n; i++) {
    const idx = (g.next + i) % n
    const sub = g.subs[idx] as Subscription
    if (sub.local !== null || sub.session?.link != null) {
      g.next = (idx + 1) % n
      return sub
    }
  }
  const sub = g.subs[g.next % n] as Subscription
  g.next = (g.next + 1) % n
  return sub
}

/** Call an in-process handler in isolation: a throw or rejection is logged and reported, never propagated to routing. */
function callLocal(b: RouterContext, sub: Subscription, m: Message): Promise<void> | undefined {
  if (sub.noLocalOrigin !== undefined && m.origin === sub.noLocalOrigin) return undefined
  const fn = sub.local
  if (fn === null) return undefined
  const msg = m.qos <= sub.qos ? m : { ...m, qos: sub.qos }
  try {
    const r = fn(msg)
    if (r === undefined || typeof (r as { then?: unknown }).then !== 'function') return undefined
    if (m.qos === 0) {
      r.then(undefined, (err: unknown) => logHandlerError(b, sub, m, err))
      return undefined
    }
    return r.then(undefined, (err: unknown) => {
      logHandlerError(b, sub, m, err)
      throw err
    })
  } catch (err) {
    logHandlerError(b, sub, m, err)
    return m.qos === 0 ? undefined : Promise.reject(err)
  }
}

function logHandlerError(b: RouterContext, sub: Subscription, m: Message, err: unknown): void {
  b.logger.warn({ filter: sub.raw, topic: m.topic, err: errorMessage(err) }, 'in-process subscriber failed')
}

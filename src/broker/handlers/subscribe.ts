import type { ISubscribePacket } from 'mqtt-packet'
import type { Qos } from '../../core/types.ts'
import type { HandlerConnection } from './context.ts'
import { badUtf8, parseFilter } from '../topics.ts'
import type { Subscription } from '../session.ts'

/** SUBSCRIBE: validate and authorise each filter, grant QoS, SUBACK, then send matching retained messages. */
export function handleSubscribe(c: HandlerConnection, p: ISubscribePacket): void {
  const b = c.ctx
  const s = c.session
  if (s === null) return
  const limits = b.limits
  const id = p.messageId
  if (id === undefined || id === 0) return c.protocolError('SUBSCRIBE without packet identifier', 0x81)
  if (p.subscriptions.length === 0) return c.protocolError('SUBSCRIBE without topic filters', 0x82) // [MQTT-3.8.3-3]
  const subId = c.v5 ? p.properties?.subscriptionIdentifier : undefined
  if (subId === 0) return c.protocolError('subscription identifier 0', 0x82) // [MQTT 5.0 §3.8.2.1.2]
  const deny = c.v5 ? 0x87 : 0x80
  const granted: number[] = []
  const retainedFor: Subscription[] = []
  for (const req of p.subscriptions) {
    if (badUtf8(req.topic)) return c.protocolError('topic filter is not valid UTF-8', 0x81)
    const parsed = parseFilter(req.topic, b.topicLimits)
    if (typeof parsed === 'string') {
      if (parsed.includes('characters')) b.stats.limit('topic_length', c.clientId, `${req.topic.slice(0, 80)}: ${parsed}`)
      else if (parsed.includes('levels')) b.stats.limit('topic_levels', c.clientId, `${req.topic.slice(0, 80)}: ${parsed}`)
      granted.push(c.v5 ? 0x8f : 0x80)
      continue
    }
    if (parsed.share !== undefined && req.nl === true) return c.protocolError('No Local on a shared subscription', 0x82) // [MQTT-3.8.3-4]
    if (!b.hooks.authorizeSubscribe(c.identity, req.topic, req.qos)) {
      granted.push(deny)
      continue
    }
    const existing = s.subscriptions.get(req.topic)
    if (existing === undefined && limits.maxSubscriptions > 0 && s.subscriptions.size >= limits.maxSubscriptions) {
      b.stats.limit('subscriptions', c.clientId, `max_subscriptions (${limits.maxSubscriptions}) reached`)
      granted.push(c.v5 ? 0x97 : 0x80)
      continue
    }
    const rh = req.rh ?? 0
    const sub: Subscription = {
      raw: req.topic,
      filter: parsed.filter,
      share: parsed.share,
      qos: req.qos as Qos,
      noLocal: req.nl === true,
      retainAsPublished: req.rap === true,
      retainHandling: rh === 1 || rh === 2 ? rh : 0,
      subscriptionId: subId,
      session: s,
      local: null,
      noLocalOrigin: undefined,
    }
    // [MQTT-3.8.4-3] an identical filter replaces the existing subscription
    if (existing !== undefined) b.trie.remove(existing)
    b.trie.add(sub)
    s.setSubscription(sub)
    granted.push(req.qos)
    // retained messages: not for shared subscriptions; Retain Handling 1 = only for new ones, 2 = never
    if (parsed.share === undefined && (sub.retainHandling === 0 || (sub.retainHandling === 1 && existing === undefined))) retainedFor.push(sub)
  }
  c.send({ cmd: 'suback', messageId: id, granted })
  if (s.persistent) b.persistence.saveSession(s)
  const check = b.hooks.authorizeDelivery
  for (const sub of retainedFor) {
    for (const m of b.retained.match(sub.filter)) {
      if (b.retained.expired(m) || (check !== undefined && !check(c.identity, m.topic))) continue
      const qos = (m.qos < sub.qos ? m.qos : sub.qos) as Qos
      // [MQTT-3.3.1-8] retained messages sent on subscribe carry RETAIN = 1
      b.deliver(s, m, qos, true, sub.subscriptionId === undefined ? null : [sub.subscriptionId])
    }
  }
}

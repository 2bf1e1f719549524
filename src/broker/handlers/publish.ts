import type { IPublishPacket } from 'mqtt-packet'
import { TOPIC_ALIAS_MAX } from '../../core/mqtt-wire/index.ts'
import type { Message } from '../../core/types.ts'
import type { HandlerConnection } from './context.ts'
import { publishProperties } from '../props.ts'
import { badUtf8, limitProblem } from '../topics.ts'

/** Inbound PUBLISH: resolve aliases, validate, authorise, admit, route, then acknowledge in order. */
export function handlePublish(c: HandlerConnection, p: IPublishPacket): void {
  const b = c.ctx
  const limits = b.limits
  const qos = p.qos
  let topic = p.topic
  const alias = c.v5 ? p.properties?.topicAlias : undefined
  if (alias !== undefined) {
    if (alias === 0 || alias > TOPIC_ALIAS_MAX) return c.protocolError(`topic alias ${alias} out of range`, 0x94) // [MQTT-3.3.2-9]
    if (topic === '') {
      const known = c.aliasIn?.get(alias)
      if (known === undefined) return c.protocolError(`unknown topic alias ${alias}`, 0x82)
      topic = known
    } else (c.aliasIn ??= new Map()).set(alias, topic)
  }
  if (topic === '' || badUtf8(topic) || topic.includes('+') || topic.includes('#')) {
    return c.protocolError(`invalid topic name "${topic}"`, 0x90) // [MQTT-3.3.2-2], [MQTT-4.7.3-1]
  }
  const id = p.messageId ?? 0
  if (qos === 0 && p.dup) return c.protocolError('DUP set on a QoS 0 PUBLISH', 0x81) // [MQTT-3.3.1-2]
  if (qos > 0 && id === 0) return c.protocolError('QoS > 0 PUBLISH without packet identifier', 0x81)

  if (qos === 1 && c.ackWaiting('puback', id)) {
    if (p.dup) return // the acknowledgement is on its way
    return c.protocolError(`packet identifier ${id} reused while still in use`, 0x82)
  }
  if (qos === 2) {
    const state = b.delivery.inboundQos2State(c, id, p.dup)
    if (state === 'reused') return c.protocolError(`packet identifier ${id} reused while awaiting PUBREL`, 0x82)
    if (state === 'dup') return answerResend(c, id)
  }
  if (qos > 0 && c.v5 && c.inboundCount >= limits.maxInflight) {
    b.stats.limit('inflight', c.clientId, `more than Receive Maximum (${limits.maxInflight}) unacknowledged publishes`)
    return c.disconnect(0x93, 'receive maximum exceeded') // [MQTT-3.3.4-9]
  }

  const problem = limitProblem(topic, b.topicLimits)
  if (problem !== null) {
    b.stats.limit(problem.includes('levels') ? 'topic_levels' : 'topic_length', c.clientId, `${topic.slice(0, 80)}: ${problem}`)
    return refuse(c, qos, id, 0x90, `topic name ${problem}`)
  }
  if (!b.hooks.authorizePublish(c.identity, topic, qos, p.retain)) {
    b.logger.debug({ clientId: c.clientId, topic }, 'publish not authorised')
    return refuse(c, qos, id, 0x87, 'not authorized')
  }
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload
  if (p.retain && qos > 0 && c.v5 && payload.length > 0 && b.retained.full(topic)) {
    // v5 can say no: 0x97 Quota exceeded, and the message is not routed either (the publisher was told
    // it was not accepted). 3.1.1 and QoS 0 cannot be told: routed, not retained (storeRetained counts it).
    b.stats.limit('retained', c.clientId, `max_retained (${limits.maxRetained}) reached; ${topic} refused`)
    return refuse(c, qos, id, 0x97, 'retained message store full')
  }
  const admit = b.hooks.admitPublish?.(c.identity, payload.length + topic.length)
  if (admit !== undefined && admit !== 0) {
    if (admit < 0) {
      b.stats.limit('publish_rate', c.clientId, 'publish rate far over the limit')
      return c.disconnect(0x96, 'message rate too high')
    }
    // backpressure: stop reading this client for a while; this publish still goes through
    b.stats.limit('publish_rate', c.clientId, `reading paused for ${admit} ms`)
    c.pause()
    const t = b.clock.setTimeout(() => c.resume(), admit)
    t.unref?.()
  }
  // accepted: from here the id counts against Receive Maximum until acknowledged
  if (qos > 0) c.inboundCount++
  if (qos === 2) b.delivery.inboundQos2Add(c, id)

  const m: Message = { topic, payload, qos, retain: p.retain, origin: c.clientId, receivedAt: b.clock.now() }
  const props = c.v5 ? publishProperties(p.properties) : undefined
  if (props !== undefined) m.properties = props
  const pending = b.ingest(m)
  if (pending !== undefined) {
    pending.catch(() => undefined) // handled in order by acknowledge()
    const s = c.session
    if (qos === 2 && s !== null) {
      const waits = (s.qos2Pending ??= new Map())
      waits.set(id, pending)
      const done = (): void => {
        if (waits.get(id) === pending) waits.delete(id)
      }
      pending.then(done, done)
    }
  }
  if (qos === 0) return
  c.acknowledge(qos === 1 ? 'puback' : 'pubrec', id, pending)
}

/** A QoS 2 resend of a message already accepted: answer again, do not route twice [MQTT-4.3.3-10]. */
function answerResend(c: HandlerConnection, id: number): void {
  if (c.ackWaiting('pubrec', id)) return // this connection's PUBREC is on its way
  const waiting = c.session?.qos2Pending?.get(id) // still being stored for an earlier connection
  if (waiting !== undefined) c.acknowledge('pubrec', id, waiting)
  else c.sendAck('pubrec', id)
}

/** Not routed (limit or ACL): v5 gets the reason code, 3.1.1 cannot say no and gets a plain acknowledgement. */
function refuse(c: HandlerConnection, qos: number, id: number, code: number, reason: string): void {
  if (qos === 0) return
  c.sendAck(qos === 1 ? 'puback' : 'pubrec', id, c.v5 ? code : 0, reason)
}

import { writeToStream } from 'mqtt-packet'
import { encodePublish, publishSize, writePublish, type PublishWireProperties } from '../core/mqtt-wire/index.ts'
import type { Message, Qos } from '../core/types.ts'
import type { Stats } from './stats.ts'
import type { BatchTarget } from './writer.ts'

// Unless told otherwise, mqtt-packet's first generate() fills a cache of 65,536 two-byte Buffers, 6.5 MB
// of heap for the life of the process (a third of the executable's idle heap). PUBLISH and the acks have
// their own encoders (core/mqtt-wire, encode.ts); the rest (CONNACK, SUBACK, ...) allocate their few numbers.
writeToStream.cacheNumbers = false

/** Cache of the last QoS 0 PUBLISH encoded, so fan-out of one message encodes once per protocol level. */
let cacheMsg: Message | null = null
let cacheRetain = false
let cacheV4: Buffer | null = null
let cacheV5: Buffer | null = null

/**
 * Bytes of an outgoing PUBLISH for one subscriber. `expiry` is the remaining Message Expiry Interval,
 * `topicAlias` 0 for none; with an alias, `topic` may be '' (alias already known to the client).
 */
export function encodeOutgoing(
  m: Message,
  qos: Qos,
  retain: boolean,
  packetId: number,
  dup: boolean,
  subIds: number[] | null,
  v5: boolean,
  expiry: number | undefined,
  topic: string,
  topicAlias: number,
): Buffer {
  const mp = m.properties
  if (!v5 || (mp === undefined && subIds === null && topicAlias === 0)) {
    if (qos !== 0 || dup) return encodePublish(m.topic, m.payload, qos, retain, dup, packetId, v5)
    if (cacheMsg !== m || cacheRetain !== retain) {
      cacheMsg = m
      cacheRetain = retain
      cacheV4 = cacheV5 = null
    }
    if (v5) return (cacheV5 ??= encodePublish(m.topic, m.payload, 0, retain, false, 0, true))
    return (cacheV4 ??= encodePublish(m.topic, m.payload, 0, retain, false, 0, false))
  }
  const props: PublishWireProperties = {}
  if (mp !== undefined) {
    if (mp.payloadFormatIndicator !== undefined) props.payloadFormatIndicator = mp.payloadFormatIndicator
    if (expiry !== undefined) props.messageExpiryInterval = expiry
    if (mp.contentType !== undefined) props.contentType = mp.contentType
    if (mp.responseTopic !== undefined) props.responseTopic = mp.responseTopic
    if (mp.correlationData !== undefined) props.correlationData = mp.correlationData
    if (mp.userProperties !== undefined) props.userProperties = mp.userProperties
  }
  if (subIds !== null) props.subscriptionIdentifier = subIds.length === 1 ? (subIds[0] as number) : subIds
  if (topicAlias > 0) props.topicAlias = topicAlias
  return encodePublish(topic, m.payload, qos, retain, dup, packetId, true, props)
}

/** A connection's outbound PUBLISH settings, negotiated at CONNECT (v5). Implemented by Connection. */
export interface PublishTarget {
  readonly v5: boolean
  readonly clientId: string
  /** Client's Maximum Packet Size; 0 = no limit. */
  readonly maxPacketOut: number
  /** Client's Topic Alias Maximum; 0 = no aliases. */
  readonly aliasOutMax: number
  aliasOut: Map<string, number> | null
}

/**
 * The bytes of one PUBLISH for `t`, with a topic alias when the client takes them (a new alias is kept
 * only once the packet is to be sent). Null when it must not be sent: it cannot be encoded (dropped,
 * counted, logged) or is larger than the client's Maximum Packet Size [MQTT-3.1.2-25].
 */
export function publishFor(
  t: PublishTarget,
  stats: Pick<Stats, 'limit' | 'dropped'>,
  m: Message,
  qos: Qos,
  retain: boolean,
  packetId: number,
  dup: boolean,
  subIds: number[] | null,
  expiry: number | undefined,
): Buffer | null {
  let topic = m.topic
  let topicAlias = 0
  let newAlias = 0
  if (t.aliasOutMax > 0) {
    const known = t.aliasOut?.get(topic)
    if (known !== undefined) {
      topicAlias = known
      topic = ''
    } else if ((t.aliasOut?.size ?? 0) < t.aliasOutMax) {
      topicAlias = newAlias = (t.aliasOut?.size ?? 0) + 1
    }
  }
  let buf: Buffer
  try {
    buf = encodeOutgoing(m, qos, retain, packetId, dup, subIds, t.v5, expiry, topic, topicAlias)
  } catch (err) {
    // one message this client cannot be sent: dropped (the caller finishes its delivery), counted, logged
    stats.dropped('encode', t.clientId, m.topic, err)
    return null
  }
  if (t.maxPacketOut > 0 && buf.length > t.maxPacketOut) {
    // too large for the client: discarded as if sent
    stats.limit('packet_size', t.clientId, `message of ${buf.length} bytes exceeds the client's Maximum Packet Size`)
    return null
  }
  if (newAlias > 0) (t.aliasOut ??= new Map()).set(m.topic, newAlias)
  return buf
}

/**
 * The common QoS 1/2 PUBLISH (no properties, topic alias or subscription identifiers for this client)
 * encoded straight into the writer's batch. Undefined when it is not that case (use publishFor); false
 * when it is not sent: larger than the client's Maximum Packet Size [MQTT-3.1.2-25], or not encodable.
 */
export function appendPublish(
  t: PublishTarget,
  w: BatchTarget,
  stats: Pick<Stats, 'limit' | 'dropped'>,
  m: Message,
  qos: Qos,
  retain: boolean,
  packetId: number,
  dup: boolean,
  subIds: number[] | null,
): boolean | undefined {
  if (qos === 0 || (t.v5 && (m.properties !== undefined || subIds !== null || t.aliasOutMax > 0))) return undefined
  const topicLen = Buffer.byteLength(m.topic)
  const size = publishSize(topicLen, m.payload.length, qos, t.v5)
  if (t.maxPacketOut > 0 && size > t.maxPacketOut) {
    stats.limit('packet_size', t.clientId, `message of ${size} bytes exceeds the client's Maximum Packet Size`)
    return false
  }
  try {
    const at = w.reserve(size) // before reading w.area: it may start a new one
    writePublish(w.area, at, m.topic, topicLen, m.payload, qos, retain, dup, packetId, t.v5)
  } catch (err) {
    stats.dropped('encode', t.clientId, m.topic, err) // as in publishFor; nothing was committed
    return false
  }
  w.commit(size)
  return true
}

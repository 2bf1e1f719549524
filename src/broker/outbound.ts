import { generate, writeToStream, type IPublishPacket } from 'mqtt-packet'
import type { Message, Qos } from '../core/types.ts'
import { encodePublish } from './encode.ts'

// Unless told otherwise, mqtt-packet's first generate() fills a cache of 65,536 two-byte Buffers, 6.5 MB
// of heap for the life of the process (a third of the executable's idle heap). The hot packets have their
// own encoders (encode.ts); the rest (CONNACK, SUBACK, v5 PUBLISH with properties) allocate their few numbers.
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
  const props: NonNullable<IPublishPacket['properties']> = {}
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
  const packet: IPublishPacket = { cmd: 'publish', topic, payload: m.payload, qos, retain, dup, properties: props }
  if (qos > 0) packet.messageId = packetId
  return generate(packet, { protocolVersion: 5 })
}

import type { PublishProperties } from '../types.ts'
import { VARINT_MAX, varintSize, writeVarint } from './varint.ts'

/** PUBLISH properties as sent: the end-to-end ones plus those a server sets per subscriber. */
export interface PublishWireProperties extends PublishProperties {
  /** One per matching subscription that carried an identifier [MQTT-3.3.4-3]. */
  subscriptionIdentifier?: number | number[]
  topicAlias?: number
}

/** The Topic Alias Maximum the broker announces in CONNACK; a PUBLISH with an alias above it is a protocol error [MQTT-3.3.2-9]. */
export const TOPIC_ALIAS_MAX = 64

/**
 * One PUBLISH packet [MQTT 5.0 §3.3] in one buffer: fixed header, topic, packet id (QoS > 0), properties
 * (MQTT 5 only; none when `props` is undefined), payload. mqtt-packet's generate() builds an emitter and
 * a dozen small buffers per call; this is on the broker's fan-out path and the bridge's drain.
 *
 * Properties go out in one fixed order (mqtt-packet writes them in the object's key order): payload
 * format, expiry, content type, response topic, correlation data, user properties, subscription
 * identifiers, topic alias. With the same order the bytes equal generate()'s (test/core/mqtt-wire.test.ts).
 * An empty user-property list or subscription-identifier list is left out (generate() writes nothing at all).
 */
export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: number,
  retain: boolean,
  dup: boolean,
  packetId: number,
  v5: boolean,
  props?: PublishWireProperties,
): Buffer {
  if (v5 && props !== undefined) return encodeWithProperties(topic, payload, qos, retain, dup, packetId, props)
  // The broker's fan-out path: no properties (an MQTT 5 packet gets an empty property section).
  const topicLen = Buffer.byteLength(topic)
  const buf = Buffer.allocUnsafe(publishSize(topicLen, payload.length, qos, v5))
  writePublish(buf, 0, topic, topicLen, payload, qos, retain, dup, packetId, v5)
  return buf
}

/** Bytes of a PUBLISH without properties (an MQTT 5 one has an empty property section); `topicLen` in UTF-8 bytes. */
export function publishSize(topicLen: number, payloadLen: number, qos: number, v5: boolean): number {
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payloadLen
  return 1 + varintSize(remaining) + remaining
}

/** Writes a PUBLISH without properties at `buf[at]` (room checked by the caller with publishSize); returns the end. */
export function writePublish(buf: Buffer, at: number, topic: string, topicLen: number, payload: Buffer, qos: number, retain: boolean, dup: boolean, packetId: number, v5: boolean): number {
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length
  buf[at] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0)
  let pos = writeVarint(buf, at + 1, remaining)
  buf[pos] = topicLen >> 8
  buf[pos + 1] = topicLen & 0xff
  pos += 2
  pos += buf.write(topic, pos, 'utf8')
  if (qos > 0) {
    buf[pos] = packetId >> 8
    buf[pos + 1] = packetId & 0xff
    pos += 2
  }
  if (v5) buf[pos++] = 0
  return pos + payload.copy(buf, pos)
}

function encodeWithProperties(topic: string, payload: Buffer, qos: number, retain: boolean, dup: boolean, packetId: number, props: PublishWireProperties): Buffer {
  const topicLen = Buffer.byteLength(topic)
  const propLen = propertiesSize(props)
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + varintSize(propLen) + propLen + payload.length
  if (remaining > VARINT_MAX) throw new RangeError(`PUBLISH of ${remaining} bytes is over the largest Remaining Length [MQTT 5.0 §1.5.5]`)
  const buf = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  buf[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0)
  let pos = writeVarint(buf, 1, remaining)
  buf.writeUInt16BE(topicLen, pos)
  pos += 2
  pos += buf.write(topic, pos, 'utf8')
  if (qos > 0) {
    buf.writeUInt16BE(packetId, pos)
    pos += 2
  }
  pos = writeProperties(buf, writeVarint(buf, pos, propLen), props)
  payload.copy(buf, pos)
  return buf
}

/** Bytes of the property section without its length [MQTT 5.0 §3.3.2.3]: identifier byte, then the value. */
function propertiesSize(p: PublishWireProperties): number {
  let n = 0
  if (p.payloadFormatIndicator !== undefined) n += 2
  if (p.messageExpiryInterval !== undefined) n += 5
  if (p.contentType !== undefined) n += 3 + Buffer.byteLength(p.contentType)
  if (p.responseTopic !== undefined) n += 3 + Buffer.byteLength(p.responseTopic)
  if (p.correlationData !== undefined) n += 3 + p.correlationData.length
  const up = p.userProperties
  if (up !== undefined) {
    for (const k of Object.keys(up)) {
      const v = up[k] as string | string[]
      const kLen = 5 + Buffer.byteLength(k)
      if (typeof v === 'string') n += kLen + Buffer.byteLength(v)
      else for (const x of v) n += kLen + Buffer.byteLength(x)
    }
  }
  const sub = p.subscriptionIdentifier
  if (typeof sub === 'number') n += 1 + varintSize(sub)
  else if (sub !== undefined) for (const id of sub) n += 1 + varintSize(id)
  if (p.topicAlias !== undefined) n += 3
  return n
}

function writeProperties(buf: Buffer, at: number, p: PublishWireProperties): number {
  let pos = at
  if (p.payloadFormatIndicator !== undefined) {
    buf[pos++] = 0x01
    buf[pos++] = p.payloadFormatIndicator ? 1 : 0
  }
  if (p.messageExpiryInterval !== undefined) {
    buf[pos++] = 0x02
    pos = buf.writeUInt32BE(p.messageExpiryInterval, pos)
  }
  if (p.contentType !== undefined) pos = writeString(buf, writeId(buf, pos, 0x03), p.contentType)
  if (p.responseTopic !== undefined) pos = writeString(buf, writeId(buf, pos, 0x08), p.responseTopic)
  if (p.correlationData !== undefined) {
    pos = buf.writeUInt16BE(p.correlationData.length, writeId(buf, pos, 0x09))
    pos += p.correlationData.copy(buf, pos)
  }
  const up = p.userProperties
  if (up !== undefined) {
    for (const k of Object.keys(up)) {
      const v = up[k] as string | string[]
      if (typeof v === 'string') pos = writeString(buf, writeString(buf, writeId(buf, pos, 0x26), k), v)
      else for (const x of v) pos = writeString(buf, writeString(buf, writeId(buf, pos, 0x26), k), x)
    }
  }
  const sub = p.subscriptionIdentifier
  if (typeof sub === 'number') pos = writeVarint(buf, writeId(buf, pos, 0x0b), sub)
  else if (sub !== undefined) for (const id of sub) pos = writeVarint(buf, writeId(buf, pos, 0x0b), id)
  if (p.topicAlias !== undefined) pos = buf.writeUInt16BE(p.topicAlias, writeId(buf, pos, 0x23))
  return pos
}

function writeId(buf: Buffer, pos: number, id: number): number {
  buf[pos] = id
  return pos + 1
}

/** A UTF-8 string with its two-byte length [MQTT 5.0 §1.5.4]. */
function writeString(buf: Buffer, pos: number, s: string): number {
  const n = buf.write(s, pos + 2, 'utf8')
  buf.writeUInt16BE(n, pos)
  return pos + 2 + n
}

import type { Message, PublishProperties, QueueEntry, Qos } from '../core/index.ts'
import { FieldgateError } from '../core/index.ts'

/**
 * Binary encoding of a queued message. Measured against JSON+base64 in bench/store.ts: for small
 * sensor payloads this is about half the size, and SD cards wear by the byte.
 *
 * layout: u8 version | u8 flags | f64 enqueuedAt | [f64 receivedAt] | u16 topicLen topic
 *         | [u16 originLen origin] | [u32 propsLen props] | payload (rest)
 * flags: bits 0-1 qos, bit 2 retain, bit 3 receivedAt, bit 4 origin, bit 5 properties
 */
const VERSION = 1
const F_RETAIN = 0x04
const F_RECEIVED = 0x08
const F_ORIGIN = 0x10
const F_PROPS = 0x20

export interface DecodedEntry {
  message: Message
  enqueuedAt: number
}

export function encodeEntry(m: Message, enqueuedAt: number): Buffer {
  const topic = Buffer.from(m.topic, 'utf8')
  const origin = m.origin === undefined ? null : Buffer.from(m.origin, 'utf8')
  const props = m.properties === undefined ? null : encodeProperties(m.properties)
  let flags = m.qos & 0x03
  if (m.retain) flags |= F_RETAIN
  if (m.receivedAt !== undefined) flags |= F_RECEIVED
  if (origin) flags |= F_ORIGIN
  if (props) flags |= F_PROPS
  const size =
    2 + 8 + (m.receivedAt !== undefined ? 8 : 0) + 2 + topic.length + (origin ? 2 + origin.length : 0) + (props ? 4 + props.length : 0) + m.payload.length
  const out = Buffer.allocUnsafe(size)
  let o = out.writeUInt8(VERSION, 0)
  o = out.writeUInt8(flags, o)
  o = out.writeDoubleBE(enqueuedAt, o)
  if (m.receivedAt !== undefined) o = out.writeDoubleBE(m.receivedAt, o)
  o = out.writeUInt16BE(topic.length, o)
  o += topic.copy(out, o)
  if (origin) {
    o = out.writeUInt16BE(origin.length, o)
    o += origin.copy(out, o)
  }
  if (props) {
    o = out.writeUInt32BE(props.length, o)
    o += props.copy(out, o)
  }
  m.payload.copy(out, o)
  return out
}

export function decodeEntry(buf: Buffer): DecodedEntry {
  const message = decodeMessage(buf)
  return { message, enqueuedAt: buf.readDoubleBE(2) }
}

/** The queue's read-back: one object per entry besides the message (a drain decodes every message it sends). */
export function decodeQueueEntry(seq: bigint, buf: Buffer): QueueEntry {
  const message = decodeMessage(buf)
  return { seq, message, enqueuedAt: buf.readDoubleBE(2) }
}

function decodeMessage(buf: Buffer): Message {
  if (buf.length < 12 || buf[0] !== VERSION) {
    throw new FieldgateError('STORE_CORRUPT', `queue entry has unknown version ${String(buf[0])} or is too short (${buf.length} bytes)`)
  }
  const flags = buf[1] as number
  let o = 10
  let receivedAt: number | undefined
  if (flags & F_RECEIVED) {
    receivedAt = buf.readDoubleBE(o)
    o += 8
  }
  const topicLen = buf.readUInt16BE(o)
  o += 2
  const topic = buf.toString('utf8', o, o + topicLen)
  o += topicLen
  let origin: string | undefined
  if (flags & F_ORIGIN) {
    const n = buf.readUInt16BE(o)
    o += 2
    origin = buf.toString('utf8', o, o + n)
    o += n
  }
  let properties: PublishProperties | undefined
  if (flags & F_PROPS) {
    const n = buf.readUInt32BE(o)
    o += 4
    properties = decodeProperties(buf.subarray(o, o + n))
    o += n
  }
  // A view, not a copy: classic-level hands every value in its own buffer (napi_create_buffer_copy), so
  // the view pins only this entry's header bytes besides its payload. Saves an allocation per message.
  const payload = buf.subarray(o)
  const message: Message = { topic, payload, qos: (flags & 0x03) as Qos, retain: (flags & F_RETAIN) !== 0 }
  if (properties) message.properties = properties
  if (origin !== undefined) message.origin = origin
  if (receivedAt !== undefined) message.receivedAt = receivedAt
  return message
}

/** Properties are rare and small: JSON, with correlationData as base64. */
function encodeProperties(p: PublishProperties): Buffer {
  const { correlationData, ...rest } = p
  const obj: Record<string, unknown> = { ...rest }
  if (correlationData !== undefined) obj.correlationData = correlationData.toString('base64')
  return Buffer.from(JSON.stringify(obj), 'utf8')
}

function decodeProperties(buf: Buffer): PublishProperties {
  const raw: unknown = JSON.parse(buf.toString('utf8'))
  if (typeof raw !== 'object' || raw === null) throw new FieldgateError('STORE_CORRUPT', 'queue entry properties are not an object')
  const obj = raw as Record<string, unknown>
  const p: PublishProperties = {}
  if (typeof obj.payloadFormatIndicator === 'boolean') p.payloadFormatIndicator = obj.payloadFormatIndicator
  if (typeof obj.messageExpiryInterval === 'number') p.messageExpiryInterval = obj.messageExpiryInterval
  if (typeof obj.contentType === 'string') p.contentType = obj.contentType
  if (typeof obj.responseTopic === 'string') p.responseTopic = obj.responseTopic
  if (typeof obj.correlationData === 'string') p.correlationData = Buffer.from(obj.correlationData, 'base64')
  if (typeof obj.userProperties === 'object' && obj.userProperties !== null) {
    p.userProperties = obj.userProperties as Record<string, string | string[]>
  }
  return p
}

/** The JSON+base64 alternative, kept only so the benchmark can compare sizes. */
export function encodeEntryJson(m: Message, enqueuedAt: number): Buffer {
  const { payload, properties, ...rest } = m
  const props = properties ? JSON.parse(encodeProperties(properties).toString('utf8')) as unknown : undefined
  return Buffer.from(JSON.stringify({ ...rest, payload: payload.toString('base64'), properties: props, enqueuedAt }), 'utf8')
}

/** Fixed-width big-endian sequence key: byte order equals numeric order. */
export function seqBytes(seq: bigint): Buffer {
  const b = Buffer.allocUnsafe(8)
  writeSeq(b, 0, seq)
  return b
}

export function readSeq(buf: Buffer, offset: number): bigint {
  return buf.readBigUInt64BE(offset)
}

const TWO_32 = 4294967296
/** Below this a sequence is an exact double: two 32-bit halves, not writeBigUInt64BE's BigInt shifts and masks (3x the time per key). */
const SAFE = 1n << 53n

export function writeSeq(buf: Buffer, offset: number, seq: bigint): void {
  if (seq < 0n || seq >= SAFE) {
    buf.writeBigUInt64BE(seq, offset)
    return
  }
  const n = Number(seq)
  buf.writeUInt32BE(Math.floor(n / TWO_32), offset)
  buf.writeUInt32BE(n >>> 0, offset + 4)
}

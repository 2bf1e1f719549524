import { isUtf8 } from 'node:buffer'

/**
 * Structural check of one complete client packet before mqtt-packet decodes it. mqtt-packet does not
 * check every length against the packet: a string or property that runs past its packet decodes as
 * null or takes bytes of the next packet (a v5 Content Type `03 00 FF` became `contentType: null`,
 * which later threw in the encoder). Here every length-prefixed field, every property and every fixed
 * size is checked against the packet's Remaining Length, so mqtt-packet only ever sees well-formed
 * structure. Returns null when well formed, else the reason code and why.
 */

/** A bad packet: 0x81 Malformed Packet or 0x82 Protocol Error; the client id when CONNECT got that far. */
export interface WireProblem {
  reasonCode: 0x81 | 0x82
  reason: string
  clientId?: string
}

type PropType = 'byte' | 'int16' | 'int32' | 'var' | 'string' | 'binary' | 'pair'

/** MQTT 5 property identifiers [MQTT 5.0 §2.2.2.2]: name and data type. */
const PROPS: Record<number, readonly [string, PropType]> = {
  0x01: ['Payload Format Indicator', 'byte'],
  0x02: ['Message Expiry Interval', 'int32'],
  0x03: ['Content Type', 'string'],
  0x08: ['Response Topic', 'string'],
  0x09: ['Correlation Data', 'binary'],
  0x0b: ['Subscription Identifier', 'var'],
  0x11: ['Session Expiry Interval', 'int32'],
  0x12: ['Assigned Client Identifier', 'string'],
  0x13: ['Server Keep Alive', 'int16'],
  0x15: ['Authentication Method', 'string'],
  0x16: ['Authentication Data', 'binary'],
  0x17: ['Request Problem Information', 'byte'],
  0x18: ['Will Delay Interval', 'int32'],
  0x19: ['Request Response Information', 'byte'],
  0x1a: ['Response Information', 'string'],
  0x1c: ['Server Reference', 'string'],
  0x1f: ['Reason String', 'string'],
  0x21: ['Receive Maximum', 'int16'],
  0x22: ['Topic Alias Maximum', 'int16'],
  0x23: ['Topic Alias', 'int16'],
  0x24: ['Maximum QoS', 'byte'],
  0x25: ['Retain Available', 'byte'],
  0x26: ['User Property', 'pair'],
  0x27: ['Maximum Packet Size', 'int32'],
  0x28: ['Wildcard Subscription Available', 'byte'],
  0x29: ['Subscription Identifier Available', 'byte'],
  0x2a: ['Shared Subscription Available', 'byte'],
}

/** Properties a client may send, per packet (server-to-client ones are malformed here). */
const ALLOWED = {
  connect: new Set([0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16]),
  will: new Set([0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26]),
  // no Subscription Identifier from a client [MQTT-3.3.4-6]
  publish: new Set([0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x03]),
  ack: new Set([0x1f, 0x26]),
  subscribe: new Set([0x0b, 0x26]),
  unsubscribe: new Set([0x26]),
  disconnect: new Set([0x11, 0x1f, 0x26, 0x1c]),
  auth: new Set([0x15, 0x16, 0x1f, 0x26]),
} as const
type PropSet = keyof typeof ALLOWED

/** Byte properties whose only values are 0 and 1. */
const BOOLEAN_BYTES = new Set([0x01, 0x17, 0x19])
const MAX_VAR = 268_435_455

class Bad extends Error {
  constructor(
    readonly reasonCode: 0x81 | 0x82,
    reason: string,
  ) {
    super(reason)
  }
}

/** A cursor over one packet's bytes after the fixed header; every read is bounded by `end`. */
class Reader {
  pos = 0
  constructor(
    readonly buf: Buffer,
    readonly end: number,
  ) {}

  need(n: number, what: string): void {
    if (this.pos + n > this.end) throw new Bad(0x81, `${what} runs past the end of the packet (needs ${n} bytes, ${this.end - this.pos} left)`)
  }

  byte(what: string): number {
    this.need(1, what)
    return this.buf[this.pos++] as number
  }

  u16(what: string): number {
    this.need(2, what)
    const v = this.buf.readUInt16BE(this.pos)
    this.pos += 2
    return v
  }

  u32(what: string): number {
    this.need(4, what)
    const v = this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  varInt(what: string): number {
    let value = 0
    let mul = 1
    for (let i = 0; i < 4; i++) {
      const b = this.byte(what)
      value += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return value
      mul *= 128
    }
    throw new Bad(0x81, `${what}: variable byte integer longer than 4 bytes`)
  }

  /** Length-prefixed bytes; returns [start, end) within buf. */
  binary(what: string): [number, number] {
    const len = this.u16(`length of ${what}`)
    if (this.pos + len > this.end) throw new Bad(0x81, `${what} declares ${len} bytes but only ${this.end - this.pos} are left in the packet`)
    const start = this.pos
    this.pos += len
    return [start, this.pos]
  }

  /** UTF-8 string: well-formed and without U+0000 [MQTT-1.5.4-1, 1.5.4-2]. */
  string(what: string): [number, number] {
    const [s, e] = this.binary(what)
    const bytes = this.buf.subarray(s, e)
    if (!isUtf8(bytes)) throw new Bad(0x81, `${what} is not well-formed UTF-8`)
    if (bytes.includes(0)) throw new Bad(0x81, `${what} contains U+0000`)
    return [s, e]
  }

  done(what: string): void {
    if (this.pos !== this.end) throw new Bad(0x81, `${this.end - this.pos} unexpected bytes after ${what}`)
  }
}

function properties(r: Reader, set: PropSet, where: string): void {
  const len = r.varInt(`${where} property length`)
  if (r.pos + len > r.end) throw new Bad(0x81, `${where} properties declare ${len} bytes but only ${r.end - r.pos} are left in the packet`)
  const inner = new Reader(r.buf, r.pos + len)
  inner.pos = r.pos
  const seen = new Set<number>()
  while (inner.pos < inner.end) {
    const id = inner.varInt(`${where} property identifier`)
    const def = PROPS[id]
    if (def === undefined || !ALLOWED[set].has(id)) {
      throw new Bad(0x81, `${where}: property 0x${id.toString(16).padStart(2, '0')}${def ? ` (${def[0]})` : ''} is not valid in this packet`)
    }
    const [name, type] = def
    if (id !== 0x26 && seen.has(id)) throw new Bad(0x82, `${where}: ${name} appears more than once`)
    seen.add(id)
    const what = `${where} property ${name} (0x${id.toString(16).padStart(2, '0')})`
    switch (type) {
      case 'byte': {
        const v = inner.byte(what)
        if (BOOLEAN_BYTES.has(id) && v > 1) throw new Bad(0x82, `${what} is ${v}, must be 0 or 1`)
        break
      }
      case 'int16':
        inner.u16(what)
        break
      case 'int32':
        inner.u32(what)
        break
      case 'var': {
        const v = inner.varInt(what)
        if (v === 0 || v > MAX_VAR) throw new Bad(0x82, `${what} is ${v}, must be 1..${MAX_VAR}`)
        break
      }
      case 'string':
        inner.string(what)
        break
      case 'binary':
        inner.binary(what)
        break
      case 'pair':
        inner.string(`${what} name`)
        inner.string(`${what} value`)
        break
    }
  }
  r.pos = inner.end
}

function connect(r: Reader): WireProblem | null {
  // Name and level problems have their own answers (CONNACK 0x01): left to mqtt-packet and the handler.
  if (r.end < 2) return null
  const nameLen = r.buf.readUInt16BE(0)
  if (2 + nameLen + 4 > r.end) return null
  const level = r.buf[2 + nameLen] as number
  if (level !== 3 && level !== 4 && level !== 5 && level !== 0x83 && level !== 0x84) return null
  r.pos = 2 + nameLen + 1
  const flags = r.byte('connect flags')
  if ((flags & 0x04) !== 0 && (flags & 0x18) === 0x18) throw new Bad(0x81, 'will QoS 3') // [MQTT-3.1.2-14]
  r.u16('keep alive')
  const v5 = level === 5
  if (v5) properties(r, 'connect', 'CONNECT')
  const [idStart, idEnd] = r.string('client identifier')
  const clientId = r.buf.toString('utf8', idStart, idEnd)
  try {
    if ((flags & 0x04) !== 0) {
      if (v5) properties(r, 'will', 'will')
      r.string('will topic')
      r.binary('will payload')
    }
    if ((flags & 0x80) !== 0) r.string('user name')
    if ((flags & 0x40) !== 0) r.binary('password')
    r.done('CONNECT payload')
  } catch (err) {
    if (err instanceof Bad) return { reasonCode: err.reasonCode, reason: err.message, clientId }
    throw err
  }
  return null
}

function publish(r: Reader, qos: number, v5: boolean): void {
  r.binary('topic name') // its UTF-8 is checked by the handler, with the alias resolved
  if (qos > 0) r.u16('packet identifier')
  if (v5) properties(r, 'publish', 'PUBLISH')
  // the rest is the payload
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. 3.1.1: exactly a packet identifier [MQTT-3.4.2, 3.5.2, 3.6.2, 3.7.2]. */
function ack(r: Reader, cmd: string, v5: boolean): void {
  r.u16(`${cmd} packet identifier`)
  if (v5 && r.pos < r.end) {
    r.byte(`${cmd} reason code`)
    if (r.pos < r.end) properties(r, 'ack', cmd)
  }
  r.done(cmd)
}

function subscribe(r: Reader, v5: boolean): void {
  r.u16('SUBSCRIBE packet identifier')
  if (v5) properties(r, 'subscribe', 'SUBSCRIBE')
  if (r.pos === r.end) throw new Bad(0x82, 'SUBSCRIBE without a topic filter') // [MQTT-3.8.3-3]
  while (r.pos < r.end) {
    r.string('topic filter')
    r.byte('subscription options')
  }
}

function unsubscribe(r: Reader, v5: boolean): void {
  r.u16('UNSUBSCRIBE packet identifier')
  if (v5) properties(r, 'unsubscribe', 'UNSUBSCRIBE')
  if (r.pos === r.end) throw new Bad(0x82, 'UNSUBSCRIBE without a topic filter') // [MQTT-3.10.3-2]
  while (r.pos < r.end) r.string('topic filter')
}

/** DISCONNECT and AUTH (v5): nothing, a reason code, or a reason code and properties. */
function reasonAndProps(r: Reader, set: 'disconnect' | 'auth', cmd: string): void {
  if (r.pos < r.end) {
    r.byte(`${cmd} reason code`)
    if (r.pos < r.end) properties(r, set, cmd)
  }
  r.done(cmd)
}

/**
 * `buf[0..length)` is one whole packet after its fixed header; `cmd` and `qos` come from the fixed
 * header, `v5` from the connection (CONNECT reads its own level).
 */
export function checkPacket(cmd: string, qos: number, v5: boolean, buf: Buffer, length: number): WireProblem | null {
  const r = new Reader(buf, length)
  try {
    switch (cmd) {
      case 'connect':
        return connect(r)
      case 'publish':
        publish(r, qos, v5)
        return null
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        ack(r, cmd.toUpperCase(), v5)
        return null
      case 'subscribe':
        subscribe(r, v5)
        return null
      case 'unsubscribe':
        unsubscribe(r, v5)
        return null
      case 'pingreq':
        r.done('PINGREQ') // [MQTT-3.12.1] no variable header, no payload
        return null
      case 'disconnect':
        if (v5) reasonAndProps(r, 'disconnect', 'DISCONNECT')
        else r.done('DISCONNECT')
        return null
      case 'auth':
        if (v5) reasonAndProps(r, 'auth', 'AUTH')
        return null
      case 'connack':
      case 'suback':
      case 'unsuback':
      case 'pingresp':
        // refused before mqtt-packet reads them (it read a SUBACK's packet id from the next packet)
        throw new Bad(0x82, `a client may not send ${cmd.toUpperCase()}`)
      default:
        return null // AUTH in 3.1.1 and reserved types: mqtt-packet refuses them
    }
  } catch (err) {
    if (err instanceof Bad) return { reasonCode: err.reasonCode, reason: err.message }
    throw err
  }
}

/** Random access to bytes (a Buffer or mqtt-packet's BufferList). */
export interface ByteSource {
  readUInt8(offset: number): number
  readUInt16BE(offset: number): number
}

/** How many leading bytes of a PUBLISH `checkPacket` reads: topic, id and properties, not the payload. */
export function publishHeaderBytes(src: ByteSource, length: number, qos: number, v5: boolean): number {
  if (length < 2) return length
  let n = 2 + src.readUInt16BE(0) + (qos > 0 ? 2 : 0)
  if (!v5 || n >= length) return Math.min(n, length)
  // properties length: a variable byte integer of up to 4 bytes, then that many bytes
  let value = 0
  let mul = 1
  for (let i = 0; i < 4 && n < length; i++) {
    const b = src.readUInt8(n++)
    value += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return Math.min(n + value, length)
    mul *= 128
  }
  return length
}

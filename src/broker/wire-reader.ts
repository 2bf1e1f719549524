import { isUtf8 } from 'node:buffer'

/**
 * Bounded reads over one MQTT packet for the structural check (wellformed.ts): a cursor that refuses to
 * run past the packet, and the MQTT 5 property list with the properties each packet may carry.
 */

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
export type PropSet = keyof typeof ALLOWED

/** Byte properties whose only values are 0 and 1. */
const BOOLEAN_BYTES = new Set([0x01, 0x17, 0x19])
const MAX_VAR = 268_435_455

/** A bad packet found while reading: 0x81 Malformed Packet or 0x82 Protocol Error. */
export class Bad extends Error {
  constructor(
    readonly reasonCode: 0x81 | 0x82,
    reason: string,
  ) {
    super(reason)
  }
}

/** A cursor over one packet's bytes after the fixed header; every read is bounded by `end`. */
export class Reader {
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

  /** UTF-8 string: well-formed and without U+0000 [MQTT-1.5.4-1] [MQTT-1.5.4-2]. */
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

/** A v5 property list: each property known, allowed in `set`, not repeated (User Property may be), and inside the packet. */
export function properties(r: Reader, set: PropSet, where: string): void {
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

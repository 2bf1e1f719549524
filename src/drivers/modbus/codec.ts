import type { ModbusPointConfig } from '../../config/sections/drivers.ts'

export type ByteOrder = 'ABCD' | 'BADC' | 'CDAB' | 'DCBA'
export type RegisterType = ModbusPointConfig['type']
export type Value = number | boolean | string

/** What the codec needs of a point; a subset of the config so tests can pass literals. */
export interface CodecPoint {
  table: 'coil' | 'discrete' | 'input' | 'holding'
  type: RegisterType
  order?: ByteOrder
  length?: number
  bit?: number
  bits?: number
  scale?: number
  offset?: number
}

/** Registers (16-bit words) or bits a point occupies. */
export function pointWidth(p: CodecPoint): number {
  if (p.table === 'coil' || p.table === 'discrete') return 1
  switch (p.type) {
    case 'int32':
    case 'uint32':
    case 'float32':
      return 2
    case 'int64':
    case 'uint64':
    case 'float64':
      return 4
    case 'string':
      return p.length ?? 1
    default:
      return 1
  }
}

/**
 * Words as they came off the wire → bytes in big-endian (ABCD) significance order.
 * CDAB/DCBA reverse the word order; BADC/DCBA swap the two bytes inside each word.
 */
export function wordsToBytes(words: readonly number[], order: ByteOrder): Buffer {
  const seq = order === 'CDAB' || order === 'DCBA' ? [...words].reverse() : words
  const swap = order === 'BADC' || order === 'DCBA'
  const buf = Buffer.alloc(seq.length * 2)
  seq.forEach((w, i) => {
    const hi = (w >> 8) & 0xff
    const lo = w & 0xff
    buf[i * 2] = swap ? lo : hi
    buf[i * 2 + 1] = swap ? hi : lo
  })
  return buf
}

/** Inverse of wordsToBytes. */
export function bytesToWords(buf: Buffer, order: ByteOrder): number[] {
  const swap = order === 'BADC' || order === 'DCBA'
  const words: number[] = []
  for (let i = 0; i + 1 < buf.length; i += 2) {
    const a = buf[i] ?? 0
    const b = buf[i + 1] ?? 0
    words.push(swap ? (b << 8) | a : (a << 8) | b)
  }
  return order === 'CDAB' || order === 'DCBA' ? words.reverse() : words
}

/** Raw register value (before scale/offset). Strings are ASCII with trailing NUL/space removed. */
export function decodeRaw(words: readonly number[], p: CodecPoint): Value {
  const order = p.order ?? 'ABCD'
  if (p.type === 'string') {
    // Strings keep the register sequence; only byte swapping inside words applies.
    const b = wordsToBytes(words, order === 'BADC' || order === 'DCBA' ? 'BADC' : 'ABCD')
    return b.toString('latin1').replace(/[\0 ]+$/, '')
  }
  if (p.type === 'bitfield') {
    const w = words[0] ?? 0
    const width = p.bits ?? 1
    const v = (w >> (p.bit ?? 0)) & ((1 << width) - 1)
    return width === 1 ? v === 1 : v
  }
  if (p.type === 'bool') return (words[0] ?? 0) !== 0
  const b = wordsToBytes(words, order)
  switch (p.type) {
    case 'int16':
      return b.readInt16BE(0)
    case 'uint16':
      return b.readUInt16BE(0)
    case 'int32':
      return b.readInt32BE(0)
    case 'uint32':
      return b.readUInt32BE(0)
    case 'int64':
      return Number(b.readBigInt64BE(0))
    case 'uint64':
      return Number(b.readBigUInt64BE(0))
    case 'float32':
      return b.readFloatBE(0)
    case 'float64':
      return b.readDoubleBE(0)
  }
}

/** Engineering value: raw * scale + offset for numbers. */
export function decode(words: readonly number[], p: CodecPoint): Value {
  const raw = decodeRaw(words, p)
  if (typeof raw !== 'number') return raw
  const v = raw * (p.scale ?? 1) + (p.offset ?? 0)
  // Scaling 215 by 0.1 should read 21.5, not 21.500000000000004.
  return p.scale !== undefined && p.scale !== 1 ? Number(v.toPrecision(12)) : v
}

const INT_RANGE: Partial<Record<RegisterType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
}

/**
 * Engineering value → words to write, with scale/offset and order applied in reverse.
 * Throws a RangeError/TypeError naming the problem when the value cannot be represented.
 */
export function encode(value: Value, p: CodecPoint): number[] {
  const order = p.order ?? 'ABCD'
  if (p.type === 'string') {
    if (typeof value !== 'string') throw new TypeError('expects a string')
    const width = pointWidth(p) * 2
    if (Buffer.byteLength(value, 'latin1') > width) throw new RangeError(`string longer than ${width} bytes`)
    const b = Buffer.alloc(width)
    b.write(value, 'latin1')
    return bytesToWords(b, order === 'BADC' || order === 'DCBA' ? 'BADC' : 'ABCD')
  }
  if (p.type === 'bool') {
    if (typeof value !== 'boolean') throw new TypeError('expects true or false')
    return [value ? 1 : 0]
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError('expects a finite number')
  const raw = (value - (p.offset ?? 0)) / (p.scale ?? 1)
  if (p.type === 'bitfield') throw new TypeError('bit fields are written with encodeBitfield')
  const b = Buffer.alloc(pointWidth(p) * 2)
  if (p.type === 'float32') b.writeFloatBE(raw, 0)
  else if (p.type === 'float64') b.writeDoubleBE(raw, 0)
  else {
    const n = Math.round(raw)
    const range = INT_RANGE[p.type]
    if (range && (n < range[0] || n > range[1])) throw new RangeError(`raw value ${n} outside ${p.type} range ${range[0]}..${range[1]}`)
    if (p.type === 'int16') b.writeInt16BE(n, 0)
    else if (p.type === 'uint16') b.writeUInt16BE(n, 0)
    else if (p.type === 'int32') b.writeInt32BE(n, 0)
    else if (p.type === 'uint32') b.writeUInt32BE(n, 0)
    else if (p.type === 'int64') b.writeBigInt64BE(BigInt(n), 0)
    else b.writeBigUInt64BE(BigInt(n), 0)
  }
  return bytesToWords(b, order)
}

/** New register value with the point's bits replaced (read-modify-write of a bit field). */
export function encodeBitfield(current: number, value: Value, p: CodecPoint): number {
  const width = p.bits ?? 1
  const max = (1 << width) - 1
  let n: number
  if (typeof value === 'boolean' && width === 1) n = value ? 1 : 0
  else if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max) n = value
  else throw new RangeError(width === 1 ? 'expects true or false' : `expects an integer 0..${max}`)
  const shift = p.bit ?? 0
  return ((current & ~(max << shift)) | (n << shift)) & 0xffff
}

/** Order of the two bytes inside each register, and of the registers of a 32/64-bit value (pymodbus's names). */
export type Endian = 'big' | 'little'
/** The old combined key: ABCD = big/big, BADC = bytes swapped, CDAB = words swapped, DCBA = both. */
export type LegacyOrder = 'ABCD' | 'BADC' | 'CDAB' | 'DCBA'
/** How a point's registers (or bit) are read. */
export type RegisterType = 'bool' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64' | 'string' | 'bitfield'
export type Value = number | boolean | string

/** What the codec needs of a point; a subset of its options so tests can pass literals. */
export interface CodecPoint {
  table: 'coil' | 'discrete' | 'input' | 'holding'
  type: RegisterType
  byteOrder?: Endian
  wordOrder?: Endian
  length?: number
  bit?: number
  bits?: number
  scale?: number
  offset?: number
  decimals?: number
}

export function legacyOrder(o: LegacyOrder): { byteOrder: Endian; wordOrder: Endian } {
  return { byteOrder: o === 'BADC' || o === 'DCBA' ? 'little' : 'big', wordOrder: o === 'CDAB' || o === 'DCBA' ? 'little' : 'big' }
}

/** What the deprecated device-level `byte_order = "ABCD"|…` means now, and what to write instead. */
export function legacyOrderNotice(o: LegacyOrder): string {
  const l = legacyOrder(o)
  return (
    `byte_order = "${o}" is deprecated: read as word_order = "${l.wordOrder}"${l.byteOrder === 'little' ? ' with the bytes of 32/64-bit values swapped' : ''}, 16-bit registers unchanged; ` +
    'write byte_order = "big"|"little" (bytes in every register) and word_order = "big"|"little" (register order of 32/64-bit values), or order = "…" on single points'
  )
}

export function isLegacyOrder(o: string | undefined): o is LegacyOrder {
  return o === 'ABCD' || o === 'BADC' || o === 'CDAB' || o === 'DCBA'
}

const MULTI_REGISTER = new Set<RegisterType>(['int32', 'uint32', 'float32', 'int64', 'uint64', 'float64'])

/**
 * A point's byte and word order: its own `order` (old combined form, taken literally for that point) or
 * byte/word order, else the device's. The device's old combined byte order was documented as
 * applying to 32/64-bit values only, so under it 16-bit registers, bits and strings keep the wire order.
 */
export function resolveOrder(
  p: { type: RegisterType; order?: LegacyOrder | undefined; byteOrder?: Endian | undefined; wordOrder?: Endian | undefined },
  device: { byteOrder: Endian | LegacyOrder; wordOrder?: Endian | undefined },
): { byteOrder: Endian; wordOrder: Endian } {
  if (p.order) return legacyOrder(p.order)
  let bytes: Endian
  let words: Endian = device.wordOrder ?? 'big'
  if (isLegacyOrder(device.byteOrder)) {
    const l = legacyOrder(device.byteOrder)
    bytes = MULTI_REGISTER.has(p.type) ? l.byteOrder : 'big'
    words = device.wordOrder ?? l.wordOrder
  } else {
    bytes = device.byteOrder
  }
  return { byteOrder: p.byteOrder ?? bytes, wordOrder: p.wordOrder ?? words }
}

/** Registers (16-bit words) or bits a point occupies. */
export function pointWidth(p: { table: CodecPoint['table']; type: RegisterType; length?: number | undefined }): number {
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

const swap16 = (w: number): number => ((w & 0xff) << 8) | ((w >> 8) & 0xff)

/** Words as they came off the wire → bytes in big-endian significance order. */
export function wordsToBytes(words: readonly number[], byteOrder: Endian = 'big', wordOrder: Endian = 'big'): Buffer {
  const seq = wordOrder === 'little' ? [...words].reverse() : words
  const buf = Buffer.alloc(seq.length * 2)
  seq.forEach((w, i) => buf.writeUInt16BE(byteOrder === 'little' ? swap16(w & 0xffff) : w & 0xffff, i * 2))
  return buf
}

/** Inverse of wordsToBytes. */
export function bytesToWords(buf: Buffer, byteOrder: Endian = 'big', wordOrder: Endian = 'big'): number[] {
  const words: number[] = []
  for (let i = 0; i + 1 < buf.length; i += 2) {
    const w = buf.readUInt16BE(i)
    words.push(byteOrder === 'little' ? swap16(w) : w)
  }
  return wordOrder === 'little' ? words.reverse() : words
}

/** The register's 16-bit value as the device means it (bits are numbered in this value, 0 = LSB). */
function registerValue(w: number, p: CodecPoint): number {
  return p.byteOrder === 'little' ? swap16(w & 0xffff) : w & 0xffff
}

/** Raw register value (before scale/offset). Strings are ASCII with trailing NUL/space removed. */
export function decodeRaw(words: readonly number[], p: CodecPoint): Value {
  const byteOrder = p.byteOrder ?? 'big'
  if (p.type === 'string') {
    // Strings keep the register sequence; only the byte order inside each register applies.
    return wordsToBytes(words, byteOrder, 'big').toString('latin1').replace(/[\0 ]+$/, '')
  }
  if (p.type === 'bitfield' || (p.type === 'bool' && p.bit !== undefined)) {
    const w = registerValue(words[0] ?? 0, p)
    const width = p.type === 'bool' ? 1 : (p.bits ?? 1)
    const v = (w >> (p.bit ?? 0)) & ((1 << width) - 1)
    return width === 1 ? v === 1 : v
  }
  if (p.type === 'bool') return (words[0] ?? 0) !== 0
  if (p.type === 'uint16' || p.type === 'int16') {
    // The common case, without a Buffer per reading.
    const w = registerValue(words[0] ?? 0, p)
    return p.type === 'int16' && w >= 0x8000 ? w - 0x10000 : w
  }
  const b = wordsToBytes(words, byteOrder, p.wordOrder ?? 'big')
  switch (p.type) {
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

/**
 * The shortest decimal that is the same float32: 231.10000610351562 → 231.1. Nothing is lost (it reads
 * back as the same float32), the noise digits of the float64 widening are gone.
 */
export function roundFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x
  const f = Math.fround(x)
  for (let digits = 1; digits < 9; digits++) {
    const d = Number(f.toPrecision(digits))
    if (Math.fround(d) === f) return d
  }
  return Number(f.toPrecision(9))
}

/** Engineering value: raw * scale + offset for numbers, at the type's precision or the point's `decimals`. */
export function decode(words: readonly number[], p: CodecPoint): Value {
  const raw = decodeRaw(words, p)
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return raw
  let v = p.type === 'float32' ? roundFloat32(raw) : raw
  const scale = p.scale ?? 1
  const offset = p.offset ?? 0
  // Scaling 215 by 0.1 should read 21.5, not 21.500000000000004.
  if (scale !== 1 || offset !== 0) v = Number((v * scale + offset).toPrecision(12))
  if (p.decimals !== undefined) v = Number(v.toFixed(p.decimals))
  return v
}

const INT_RANGE: Partial<Record<RegisterType, [number, number]>> = {
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
}

/** True when writing this point changes some bits of one register and must leave the others alone. */
export function isBitPoint(p: CodecPoint): boolean {
  return p.table === 'holding' && (p.type === 'bitfield' || (p.type === 'bool' && p.bit !== undefined))
}

/**
 * Engineering value → words to write, with scale/offset and order applied in reverse.
 * Throws a RangeError/TypeError naming the problem when the value cannot be represented.
 */
export function encode(value: Value, p: CodecPoint): number[] {
  const byteOrder = p.byteOrder ?? 'big'
  if (isBitPoint(p)) throw new TypeError('bits of a register are written with bitMasks (read-modify-write)')
  if (p.type === 'string') {
    if (typeof value !== 'string') throw new TypeError('expects a string')
    const width = pointWidth(p) * 2
    if (Buffer.byteLength(value, 'latin1') > width) throw new RangeError(`string longer than ${width} bytes`)
    const b = Buffer.alloc(width)
    b.write(value, 'latin1')
    return bytesToWords(b, byteOrder, 'big')
  }
  if (p.type === 'bool') {
    if (typeof value !== 'boolean') throw new TypeError('expects true or false')
    return [value ? 1 : 0]
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError('expects a finite number')
  const raw = (value - (p.offset ?? 0)) / (p.scale ?? 1)
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
  return bytesToWords(b, byteOrder, p.wordOrder ?? 'big')
}

/**
 * The masks of a bit write, in wire order: new register = (current AND and) OR (or AND NOT and), which is
 * exactly what FC 22 (mask write register) does in the device and what a read-modify-write does here.
 */
export function bitMasks(value: Value, p: CodecPoint): { and: number; or: number } {
  const width = p.type === 'bool' ? 1 : (p.bits ?? 1)
  const max = (1 << width) - 1
  let n: number
  if (typeof value === 'boolean' && width === 1) n = value ? 1 : 0
  else if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max) n = value
  else throw new RangeError(width === 1 ? 'expects true or false' : `expects an integer 0..${max}`)
  const shift = p.bit ?? 0
  const and = ~(max << shift) & 0xffff
  const or = (n << shift) & 0xffff
  return p.byteOrder === 'little' ? { and: swap16(and), or: swap16(or) } : { and, or }
}

/** New register value (wire order) with the point's bits replaced and every other bit kept. */
export function applyMasks(current: number, m: { and: number; or: number }): number {
  return ((current & m.and) | (m.or & ~m.and)) & 0xffff
}

/** Read-modify-write of a bit field or register bit: the register with only the point's bits replaced. */
export function encodeBitfield(current: number, value: Value, p: CodecPoint): number {
  return applyMasks(current, bitMasks(value, p))
}

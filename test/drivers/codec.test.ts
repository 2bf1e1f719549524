import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decode, decodeRaw, encode, encodeBitfield, legacyOrder, pointWidth, type CodecPoint, type LegacyOrder as ByteOrder } from '../../src/drivers/modbus/codec.ts'

const hold = (type: CodecPoint['type'], order: ByteOrder = 'ABCD', extra: Partial<CodecPoint> = {}): CodecPoint => ({ table: 'holding', type, ...legacyOrder(order), ...extra })

/** Register words as they come off the wire, per order, for one value. Hand-written from the bytes. */
const fixtures: Array<{ type: CodecPoint['type']; value: number; words: Record<ByteOrder, number[]> }> = [
  // 0x3F800000 = 1.0f: A=3F B=80 C=00 D=00
  { type: 'float32', value: 1, words: { ABCD: [0x3f80, 0x0000], BADC: [0x803f, 0x0000], CDAB: [0x0000, 0x3f80], DCBA: [0x0000, 0x803f] } },
  // 0xC2F6E979 = -123.456f: all four bytes differ
  { type: 'float32', value: -123.456, words: { ABCD: [0xc2f6, 0xe979], BADC: [0xf6c2, 0x79e9], CDAB: [0xe979, 0xc2f6], DCBA: [0x79e9, 0xf6c2] } },
  // 0x12345678
  { type: 'uint32', value: 0x12345678, words: { ABCD: [0x1234, 0x5678], BADC: [0x3412, 0x7856], CDAB: [0x5678, 0x1234], DCBA: [0x7856, 0x3412] } },
  // -2 = 0xFFFFFFFE
  { type: 'int32', value: -2, words: { ABCD: [0xffff, 0xfffe], BADC: [0xffff, 0xfeff], CDAB: [0xfffe, 0xffff], DCBA: [0xfeff, 0xffff] } },
  // 0x0001020304050607 (below 2^53, so exact as a JS number)
  {
    type: 'uint64',
    value: 0x0001020304050607,
    words: {
      ABCD: [0x0001, 0x0203, 0x0405, 0x0607],
      BADC: [0x0100, 0x0302, 0x0504, 0x0706],
      CDAB: [0x0607, 0x0405, 0x0203, 0x0001],
      DCBA: [0x0706, 0x0504, 0x0302, 0x0100],
    },
  },
  // -3 = 0xFFFFFFFFFFFFFFFD
  {
    type: 'int64',
    value: -3,
    words: {
      ABCD: [0xffff, 0xffff, 0xffff, 0xfffd],
      BADC: [0xffff, 0xffff, 0xffff, 0xfdff],
      CDAB: [0xfffd, 0xffff, 0xffff, 0xffff],
      DCBA: [0xfdff, 0xffff, 0xffff, 0xffff],
    },
  },
  // 1.5 = 0x3FF8000000000000
  {
    type: 'float64',
    value: 1.5,
    words: {
      ABCD: [0x3ff8, 0x0000, 0x0000, 0x0000],
      BADC: [0xf83f, 0x0000, 0x0000, 0x0000],
      CDAB: [0x0000, 0x0000, 0x0000, 0x3ff8],
      DCBA: [0x0000, 0x0000, 0x0000, 0xf83f],
    },
  },
  // 16-bit: only byte swapping applies
  { type: 'uint16', value: 0x1234, words: { ABCD: [0x1234], BADC: [0x3412], CDAB: [0x1234], DCBA: [0x3412] } },
  { type: 'int16', value: -2, words: { ABCD: [0xfffe], BADC: [0xfeff], CDAB: [0xfffe], DCBA: [0xfeff] } },
]

describe('register codec', () => {
  for (const f of fixtures) {
    for (const order of ['ABCD', 'BADC', 'CDAB', 'DCBA'] as ByteOrder[]) {
      test(`decodes ${f.type} ${f.value} in ${order} order and encodes it back to the same words`, () => {
        const p = hold(f.type, order)
        const got = decodeRaw(f.words[order] as number[], p) as number
        if (f.type === 'float32') assert.ok(Math.abs(got - f.value) < 1e-4, `${got}`)
        else assert.equal(got, f.value)
        assert.deepEqual(encode(f.value, p), f.words[order])
      })
    }
  }

  test('widths follow the type: 16-bit one register, 32-bit two, 64-bit four, strings their length, coils one bit', () => {
    assert.equal(pointWidth(hold('int16')), 1)
    assert.equal(pointWidth(hold('float32')), 2)
    assert.equal(pointWidth(hold('uint64')), 4)
    assert.equal(pointWidth(hold('string', 'ABCD', { length: 5 })), 5)
    assert.equal(pointWidth({ table: 'coil', type: 'bool' }), 1)
  })

  test('applies scale and offset when decoding and reverses them when encoding', () => {
    const p = hold('int16', 'ABCD', { scale: 0.1, offset: -40 })
    // raw 615 → 61.5 - 40 = 21.5
    assert.equal(decode([615], p), 21.5)
    assert.deepEqual(encode(21.5, p), [615])
    // XY-MD02 style negative temperature: 0xFF9C = -100 raw → -10.0
    assert.equal(decode([0xff9c], hold('int16', 'ABCD', { scale: 0.1 })), -10)
  })

  test('decodes ASCII strings with trailing NULs removed, byte-swapped for BADC', () => {
    // "AB12C" + NUL: 41 42 31 32 43 00
    assert.equal(decodeRaw([0x4142, 0x3132, 0x4300], hold('string', 'ABCD', { length: 3 })), 'AB12C')
    assert.equal(decodeRaw([0x4241, 0x3231, 0x0043], hold('string', 'BADC', { length: 3 })), 'AB12C')
    assert.deepEqual(encode('AB12C', hold('string', 'ABCD', { length: 3 })), [0x4142, 0x3132, 0x4300])
    assert.throws(() => encode('too long text', hold('string', 'ABCD', { length: 2 })), RangeError)
  })

  test('extracts bit fields: a single bit as a boolean, wider fields as numbers', () => {
    // 0b1010_0110_0000_0100
    const w = [0xa604]
    assert.equal(decodeRaw(w, hold('bitfield', 'ABCD', { bit: 2, bits: 1 })), true)
    assert.equal(decodeRaw(w, hold('bitfield', 'ABCD', { bit: 3, bits: 1 })), false)
    assert.equal(decodeRaw(w, hold('bitfield', 'ABCD', { bit: 12, bits: 4 })), 0xa)
    assert.equal(encodeBitfield(0xa604, false, hold('bitfield', 'ABCD', { bit: 2, bits: 1 })), 0xa600)
    assert.equal(encodeBitfield(0xa604, 3, hold('bitfield', 'ABCD', { bit: 12, bits: 4 })), 0x3604)
    assert.throws(() => encodeBitfield(0, 16, hold('bitfield', 'ABCD', { bit: 12, bits: 4 })), RangeError)
  })

  test('decodes a holding register typed bool as non-zero', () => {
    assert.equal(decodeRaw([0], hold('bool')), false)
    assert.equal(decodeRaw([7], hold('bool')), true)
    assert.deepEqual(encode(true, hold('bool')), [1])
  })

  test('refuses values an integer type cannot hold and non-numbers for numeric types', () => {
    assert.throws(() => encode(70000, hold('uint16')), RangeError)
    assert.throws(() => encode(-1, hold('uint32')), RangeError)
    assert.throws(() => encode(40000, hold('int16')), RangeError)
    assert.throws(() => encode('12', hold('int16')), TypeError)
    assert.throws(() => encode(Number.NaN, hold('float32')), TypeError)
  })
})

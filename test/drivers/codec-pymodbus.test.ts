import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import { decode, decodeRaw, encode, resolveOrder, roundFloat32, type Endian, type LegacyOrder, type RegisterType } from '../../src/drivers/modbus/codec.ts'

/**
 * pymodbus' BinaryPayloadBuilder(byteorder, wordorder) is the reference: every value of every type in
 * every order it encodes must decode to the same value here, and our encoding must be its registers.
 * Values cross as raw bits (hex) so -0, NaN and Inf survive the trip.
 */
const SCRIPT = `
import json, struct, sys
from pymodbus.payload import BinaryPayloadBuilder
from pymodbus.constants import Endian
ADD = {'int16': ('add_16bit_int', 'h'), 'uint16': ('add_16bit_uint', 'H'), 'int32': ('add_32bit_int', 'i'),
       'uint32': ('add_32bit_uint', 'I'), 'int64': ('add_64bit_int', 'q'), 'uint64': ('add_64bit_uint', 'Q'),
       'float32': ('add_32bit_float', 'f'), 'float64': ('add_64bit_float', 'd')}
E = {'big': Endian.Big, 'little': Endian.Little}
print(json.dumps({'ready': True}), flush=True)
for line in sys.stdin:
    c = json.loads(line)
    method, fmt = ADD[c['type']]
    value = struct.unpack('!' + fmt, bytes.fromhex(c['bits']))[0]
    b = BinaryPayloadBuilder(byteorder=E[c['byteorder']], wordorder=E[c['wordorder']])
    getattr(b, method)(value)
    print(json.dumps({'registers': b.to_registers()}), flush=True)
`

class Pymodbus {
  private proc: ChildProcess | null = null
  private waiting: Array<(v: number[]) => void> = []
  private ready: Promise<void> | null = null

  start(): Promise<void> {
    this.proc = spawn('/usr/bin/python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] })
    let first: () => void = () => undefined
    this.ready = new Promise((resolve) => (first = resolve))
    let started = false
    createInterface({ input: this.proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!started) {
        started = true
        first()
        return
      }
      this.waiting.shift()?.((JSON.parse(line) as { registers: number[] }).registers)
    })
    return this.ready
  }

  encode(type: RegisterType, bits: string, byteorder: Endian, wordorder: Endian): Promise<number[]> {
    return new Promise((resolve) => {
      this.waiting.push(resolve)
      this.proc?.stdin?.write(`${JSON.stringify({ type, bits, byteorder, wordorder })}\n`)
    })
  }

  async stop(): Promise<void> {
    const p = this.proc
    if (!p || p.exitCode !== null) return
    const gone = new Promise((r) => p.once('exit', r))
    p.stdin?.end()
    const t = setTimeout(() => p.kill('SIGKILL'), 3000)
    await gone
    clearTimeout(t)
  }
}

const SIZE: Record<string, number> = { int16: 2, uint16: 2, int32: 4, uint32: 4, int64: 8, uint64: 8, float32: 4, float64: 8 }

/** A value of the type and its big-endian bits. */
const valueOf = (type: RegisterType): fc.Arbitrary<{ value: number; bits: string }> => {
  const b = Buffer.alloc(SIZE[type] as number)
  const int = (min: number, max: number, write: (n: number) => void): fc.Arbitrary<{ value: number; bits: string }> =>
    fc.integer({ min, max }).map((n) => {
      write(n)
      return { value: n, bits: b.toString('hex') }
    })
  switch (type) {
    case 'int16':
      return int(-32768, 32767, (n) => b.writeInt16BE(n))
    case 'uint16':
      return int(0, 65535, (n) => b.writeUInt16BE(n))
    case 'int32':
      return int(-2147483648, 2147483647, (n) => b.writeInt32BE(n))
    case 'uint32':
      return int(0, 4294967295, (n) => b.writeUInt32BE(n))
    case 'int64':
      return int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, (n) => b.writeBigInt64BE(BigInt(n)))
    case 'uint64':
      return int(0, Number.MAX_SAFE_INTEGER, (n) => b.writeBigUInt64BE(BigInt(n)))
    case 'float32':
      return fc.float().map((x) => {
        b.writeFloatBE(x)
        return { value: x, bits: b.toString('hex') }
      })
    default:
      return fc.double().map((x) => {
        b.writeDoubleBE(x)
        return { value: x, bits: b.toString('hex') }
      })
  }
}

const TYPES: RegisterType[] = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64']
const endian = fc.constantFrom<Endian>('big', 'little')
const sameNumber = (a: unknown, b: number): boolean => Object.is(a, b) || (typeof a === 'number' && Number.isNaN(a) && Number.isNaN(b))

describe('register codec against pymodbus BinaryPayloadBuilder', { timeout: 120_000 }, () => {
  const py = new Pymodbus()
  before(() => py.start())
  after(() => py.stop())

  test('every type, byte order and word order: pymodbus encodes, we decode the same value and encode the same registers', async () => {
    const kase = fc.constantFrom(...TYPES).chain((type) => fc.record({ type: fc.constant(type), v: valueOf(type), byteOrder: endian, wordOrder: endian }))
    await fc.assert(
      fc.asyncProperty(kase, async ({ type, v, byteOrder, wordOrder }) => {
        const words = await py.encode(type, v.bits, byteOrder, wordOrder)
        const p = { table: 'holding' as const, type, byteOrder, wordOrder }
        assert.ok(sameNumber(decodeRaw(words, p), v.value), `decodeRaw(${JSON.stringify(words)}) = ${String(decodeRaw(words, p))}, pymodbus encoded ${v.value}`)
        if (Number.isFinite(v.value)) assert.deepEqual(encode(v.value, p), words)
      }),
      { seed: 20261202, numRuns: 600 },
    )
  })

  test('the old combined order keys map to pymodbus (byteorder, wordorder) for 32/64-bit values', async () => {
    const legacy: Record<LegacyOrder, [Endian, Endian]> = { ABCD: ['big', 'big'], BADC: ['little', 'big'], CDAB: ['big', 'little'], DCBA: ['little', 'little'] }
    for (const [order, [bo, wo]] of Object.entries(legacy) as Array<[LegacyOrder, [Endian, Endian]]>) {
      const words = await py.encode('float32', '4367199a', bo, wo) // 231.1f
      const device = resolveOrder({ type: 'float32' }, { byteOrder: order })
      assert.equal(decode(words, { table: 'holding', type: 'float32', ...device }), 231.1, order)
      // A 16-bit register under the device's old key reads as the Modbus spec says (258 stays 258).
      const w16 = await py.encode('uint16', '0102', 'big', 'big')
      assert.equal(decode(w16, { table: 'holding', type: 'uint16', ...resolveOrder({ type: 'uint16' }, { byteOrder: order }) }), 258, order)
    }
  })

  test('float32 is published at its own precision: the shortest decimal that is the same float32', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const r = roundFloat32(x)
        assert.ok(Object.is(Math.fround(r), x) || (x === 0 && r === 0), `${x} → ${r}`)
        assert.ok(Number(r.toPrecision(9)) === r, `${r} has more than 9 significant digits`)
      }),
      { seed: 7, numRuns: 2000 },
    )
    assert.equal(decode([0x4367, 0x199a], { table: 'holding', type: 'float32' }), 231.1)
    assert.equal(decode([0x4367, 0x199a], { table: 'holding', type: 'float32', decimals: 0 }), 231)
  })
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { isFieldgateError, type Message, type PublishProperties } from '../../src/core/index.ts'
import { decodeEntry, decodeQueueEntry, encodeEntry, readSeq, seqBytes, writeSeq } from '../../src/store-forward/codec.ts'

/**
 * The queue entry codec and the sequence keys. Both are on disk: a change of bytes here is a change of
 * the data format (format.ts), so the fixtures pin the bytes, and the properties check the round trip.
 */

const key = fc.stringMatching(/^[a-z][a-z0-9-]{0,7}$/)
const properties: fc.Arbitrary<PublishProperties> = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: fc.nat(),
    contentType: fc.string({ unit: 'grapheme', maxLength: 12 }),
    responseTopic: fc.string({ unit: 'grapheme', maxLength: 12 }),
    correlationData: fc.uint8Array({ maxLength: 16 }).map((a) => Buffer.from(a)),
    userProperties: fc.dictionary(key, fc.oneof(fc.string({ maxLength: 8 }), fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 3 })), { maxKeys: 3 }).map((d) => ({ ...d })),
  },
  { requiredKeys: [] },
).map((p) => ({ ...p })) // fast-check's records have no prototype; decoded ones do
const message: fc.Arbitrary<Message> = fc
  .record(
    {
      topic: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
      payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      retain: fc.boolean(),
      properties,
      origin: fc.string({ maxLength: 20 }),
      receivedAt: fc.double(),
    },
    { requiredKeys: ['topic', 'payload', 'qos', 'retain'] },
  )
  .map((m) => ({ ...m }))
const at = fc.double({ noNaN: true })
const seq = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })

test('decode(encode(m)) gives back the message and its enqueue time, also as a queue entry with its sequence', () => {
  fc.assert(
    fc.property(message, at, seq, (m, t, s) => {
      const bytes = encodeEntry(m, t)
      assert.deepEqual(decodeEntry(bytes), { message: m, enqueuedAt: t })
      assert.deepEqual(decodeQueueEntry(s, bytes), { seq: s, message: m, enqueuedAt: t })
    }),
    { numRuns: 500 },
  )
})

test('an entry keeps the bytes of data format 1: version, flags, enqueue time, topic, payload', () => {
  const bytes = encodeEntry({ topic: 'a/b', payload: Buffer.from('hi'), qos: 1, retain: true }, 1.5)
  assert.equal(bytes.toString('hex'), '01' + '05' + '3ff8000000000000' + '0003' + '612f62' + '6869')
  const full = encodeEntry({ topic: 't', payload: Buffer.from([7]), qos: 2, retain: false, receivedAt: 2, origin: 'c', properties: { contentType: 'x' } }, 1)
  assert.equal(full.toString('hex'), '01' + '3a' + '3ff0000000000000' + '4000000000000000' + '0001' + '74' + '0001' + '63' + '00000013' + Buffer.from('{"contentType":"x"}').toString('hex') + '07')
})

test('an entry of another version or too short to hold a header is refused as STORE_CORRUPT', () => {
  const good = encodeEntry({ topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: false }, 0)
  for (const bad of [Buffer.concat([Buffer.from([2]), good.subarray(1)]), good.subarray(0, 11), Buffer.alloc(0)]) {
    assert.throws(() => decodeQueueEntry(0n, bad), (err: unknown) => isFieldgateError(err, 'STORE_CORRUPT'))
  }
})

test('sequence keys are 8 bytes big-endian over the whole 64-bit range: read(write(s)) = s and byte order = numeric order', () => {
  const edges = [0n, 1n, (1n << 32n) - 1n, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 64n) - 1n]
  fc.assert(
    fc.property(fc.oneof(seq, fc.constantFrom(...edges)), fc.oneof(seq, fc.constantFrom(...edges)), (a, b) => {
      const ka = seqBytes(a)
      const ref = Buffer.alloc(8)
      ref.writeBigUInt64BE(a)
      assert.deepEqual(ka, ref)
      assert.equal(readSeq(ka, 0), a)
      const kb = Buffer.alloc(11, 0xee)
      writeSeq(kb, 3, b)
      assert.equal(readSeq(kb, 3), b)
      assert.equal(Math.sign(Buffer.compare(ka, kb.subarray(3))), a < b ? -1 : a > b ? 1 : 0)
    }),
    { numRuns: 2000 },
  )
})

import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { generate } from 'mqtt-packet'
import { publishSize, writePublish } from '../../src/core/mqtt-wire/index.ts'
import { appendAck } from '../../src/broker/encode.ts'
import { Writer } from '../../src/broker/writer.ts'

/*
 * The Writer's batches (src/broker/writer.ts): whatever mix of copied buffers, large buffers queued as
 * they are and packets encoded into the batch, the socket receives exactly those bytes in order.
 * Seeded like property.test.ts.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202)

let server: Server
let port = 0
const accepted: Socket[] = []
before(async () => {
  server = createServer((s) => accepted.push(s))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as { port: number }).port
})
after(async () => {
  for (const s of accepted) s.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

type Op = { kind: 'copy' | 'big'; bytes: Buffer } | { kind: 'ack'; id: number } | { kind: 'publish'; topic: string; payload: Buffer; qos: 1 | 2; id: number; v5: boolean } | { kind: 'tick' }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a): Op => ({ kind: 'copy', bytes: Buffer.from(a) })) },
  { weight: 1, arbitrary: fc.integer({ min: 1025, max: 20_000 }).map((n): Op => ({ kind: 'big', bytes: Buffer.alloc(n, n & 0xff) })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 65535 }).map((id): Op => ({ kind: 'ack', id })) },
  {
    weight: 3,
    arbitrary: fc
      .record({ topic: fc.string({ minLength: 1, maxLength: 40 }), payload: fc.uint8Array({ maxLength: 6000 }), qos: fc.constantFrom(1 as const, 2 as const), id: fc.integer({ min: 1, max: 65535 }), v5: fc.boolean() })
      .map((p): Op => ({ kind: 'publish', ...p, payload: Buffer.from(p.payload) })),
  },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'tick' }) },
)

function expected(op: Op): Buffer {
  switch (op.kind) {
    case 'copy':
    case 'big':
      return op.bytes
    case 'ack':
      return Buffer.from([0x40, 2, op.id >> 8, op.id & 0xff])
    case 'publish':
      return generate({ cmd: 'publish', topic: op.topic, payload: op.payload, qos: op.qos, messageId: op.id, retain: false, dup: false }, { protocolVersion: op.v5 ? 5 : 4 })
    case 'tick':
      return Buffer.alloc(0)
  }
}

test('a writer hands the socket exactly the bytes written, in order, across copied, queued and encoded-in-place packets and flushes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), async (ops) => {
      const seen = accepted.length
      const client = connect(port, '127.0.0.1')
      await new Promise<void>((resolve) => client.once('connect', () => resolve()))
      const peer = await waitFor(() => accepted[seen])
      const got: Buffer[] = []
      peer.on('data', (d: Buffer) => got.push(d))
      const counter = { bytesOut: 0 }
      const w = new Writer(client, counter)
      for (const op of ops) {
        if (op.kind === 'copy' || op.kind === 'big') w.write(op.bytes)
        else if (op.kind === 'ack') appendAck(w, 'puback', op.id)
        else if (op.kind === 'publish') {
          const topicLen = Buffer.byteLength(op.topic)
          const size = publishSize(topicLen, op.payload.length, op.qos, op.v5)
          const at = w.reserve(size)
          assert.equal(writePublish(w.area, at, op.topic, topicLen, op.payload, op.qos, false, false, op.id, op.v5), at + size)
          w.commit(size)
        } else await new Promise((r) => setImmediate(r))
      }
      const want = Buffer.concat(ops.map(expected))
      assert.equal(counter.bytesOut, want.length)
      await waitFor(() => (Buffer.concat(got).length >= want.length ? true : undefined))
      assert.ok(Buffer.concat(got).equals(want), 'the bytes and their order')
      w.end()
      client.destroy()
      peer.destroy()
    }),
    { seed: SEED, numRuns: 150 },
  )
})

async function waitFor<T>(get: () => T | undefined): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const v = get()
    if (v !== undefined) return v
    await new Promise((r) => setTimeout(r, 2))
  }
  throw new Error('timed out')
}

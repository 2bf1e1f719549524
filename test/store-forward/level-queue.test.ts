import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isFieldgateError, silentLogger, systemClock } from '../../src/core/index.ts'
import { LevelHandle } from '../../src/store-forward/db.ts'
import { LevelQueue, openStore } from '../../src/store-forward/index.ts'
import type { QueueOptions } from '../../src/store-forward/types.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'
import { msg } from './queue-conformance.ts'

const opts = (over: Partial<QueueOptions> = {}): QueueOptions => ({
  maxBytes: 512_000_000,
  maxAge: 0,
  policy: 'drop-oldest',
  groupCommitWindow: 5,
  maxBatch: 1000,
  clock: systemClock,
  logger: silentLogger,
  ...over,
})

test('many concurrent appends share one batch write (group commit)', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const q = await LevelQueue.open('up', h, opts())
  const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => q.appendSeq([msg(i)])))
  assert.equal(seqs.length, 300)
  assert.ok(q.batches >= 1 && q.batches <= 2, `300 concurrent appends took ${q.batches} batches`)
  assert.equal(q.stats().depth, 300)
  await q.close()
  await h.close()
  cleanup()
})

test('a group commit batch never holds more than max_batch messages', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const q = await LevelQueue.open('up', h, opts({ maxBatch: 50 }))
  await Promise.all(Array.from({ length: 200 }, (_, i) => q.append([msg(i)])))
  assert.equal(q.batches, 4)
  assert.deepEqual((await q.peek(300)).map((e) => e.message.topic), Array.from({ length: 200 }, (_, i) => `sensors/${i}`))
  await q.close()
  await h.close()
  cleanup()
})

test('a failed write rejects with QUEUE_WRITE_FAILED, shows in stats, and the next append reopens and succeeds', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const q = await LevelQueue.open('up', h, opts())
  await q.append([msg(1)])
  await h.db.close() // the disk goes away under the queue
  await assert.rejects(q.append([msg(2)]), (err: unknown) => isFieldgateError(err, 'QUEUE_WRITE_FAILED'))
  assert.match(q.stats().lastError ?? '', /writing to .* failed/)
  assert.notEqual(h.lastWriteError, null)
  assert.equal(q.stats().depth, 1)
  await q.append([msg(3)])
  assert.equal(q.stats().lastError, null)
  assert.equal(h.lastWriteError, null)
  assert.deepEqual((await q.peek(10)).map((e) => e.message.topic), ['sensors/1', 'sensors/3'])
  await q.close()
  await h.close()
  cleanup()
})

test('an ack whose write failed is retried with the next batch', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const q = await LevelQueue.open('up', h, opts())
  const seqs = await q.appendSeq([msg(1), msg(2)])
  await q.peek(2)
  await h.db.close()
  await assert.rejects(q.ack([seqs[0] as bigint]), (err: unknown) => isFieldgateError(err, 'QUEUE_WRITE_FAILED'))
  await q.append([msg(3)])
  assert.equal(q.stats().depth, 2)
  assert.equal(q.stats().acked, 1)
  await q.close()
  await h.close()
  cleanup()
})

test('both budget policies hold on real files across a restart', { timeout: 30_000 }, async () => {
  for (const policy of ['drop-oldest', 'reject-new'] as const) {
    const { dir, cleanup } = tempDir('fieldgate-sf-')
    const cfg = storeOptionsFor(dir, { maxBytes: 200_000, policy })
    let store = await openStore(cfg, silentLogger)
    let q = await store.openQueue('up')
    let rejected = 0
    for (let i = 0; i < 100; i++) {
      await q.append([msg(i, { payload: Buffer.alloc(10_000, i) })]).catch((err: unknown) => {
        if (!isFieldgateError(err, 'QUEUE_FULL')) throw err
        rejected++
      })
    }
    const s = q.stats()
    assert.ok(s.bytes <= 200_000)
    assert.equal(s.depth, 19)
    if (policy === 'drop-oldest') assert.equal(s.dropped, 81)
    else assert.equal(rejected, 81)
    await store.close()
    store = await openStore(cfg, silentLogger)
    q = await store.openQueue('up')
    // `rejected` is persisted with the next successful batch; none happened after the rejections.
    assert.deepEqual({ ...q.stats(), rejected: 0 }, { ...s, rejected: 0 })
    const first = (await q.peek(1))[0]
    assert.equal(first?.message.topic, policy === 'drop-oldest' ? 'sensors/81' : 'sensors/0')
    const st = store.status()
    assert.equal(st.health, 'degraded')
    assert.match(st.reason ?? '', /above 90% of storage.max_bytes/)
    await store.close()
    cleanup()
  }
})

test('draining a deep queue keeps memory flat: peeks continue from the kept position', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  const q = await store.openQueue('up')
  for (let b = 0; b < 20; b++) await q.append(Array.from({ length: 1000 }, (_, i) => msg(b * 1000 + i, { qos: 0 })))
  let n = 0
  let last = -1n
  for (let guard = 0; guard < 1000; guard++) {
    const got = await q.peek(100)
    if (got.length === 0) break
    for (const e of got) assert.ok(e.seq > last)
    last = got.at(-1)?.seq ?? last
    n += got.length
    void q.ack(got.map((e) => e.seq))
  }
  await q.flush()
  assert.equal(n, 20_000)
  assert.equal(q.stats().depth, 0)
  assert.equal(q.stats().acked, 20_000)
  await store.close()
  cleanup()
})

test('a peek running while a batch deletes entries it has not reached never hands them out again nor charges them twice', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  const q = await store.openQueue('up')
  const seqs = await q.appendSeq(Array.from({ length: 2000 }, (_, i) => msg(i, { qos: 1 })))
  const acked = new Set<bigint>()
  const handedOut = new Set<bigint>()
  // Ack entries ahead of the read position (as live-first does) while peeks keep reading, at varying offsets
  // between the ack call and the peek so some peeks overlap the delete batch and some do not.
  for (let round = 0; round < 20; round++) {
    const ahead = seqs.slice(round * 100 + 50, round * 100 + 60)
    const ackDone = q.ack(ahead)
    for (const s of ahead) acked.add(s)
    for (let k = 0; k < round % 3; k++) await new Promise((r) => setImmediate(r))
    const got = await q.peek(100)
    await ackDone
    for (const e of got) {
      assert.ok(!handedOut.has(e.seq), `entry ${e.seq} handed out twice`)
      handedOut.add(e.seq)
    }
    // A consumer acks whatever it was handed, even one it had acked before (a live-first duplicate).
    const rest = got.map((e) => e.seq)
    for (const s of rest) acked.add(s)
    await q.ack(rest)
  }
  for (let guard = 0; guard < 100; guard++) {
    const got = await q.peek(500)
    if (got.length === 0) break
    await q.ack(got.map((e) => e.seq))
  }
  await q.flush()
  const st = q.stats()
  assert.equal(st.depth, 0, 'every entry deleted exactly once')
  assert.equal(st.bytes, 0, 'no entry charged twice')
  assert.equal(st.acked, 2000)
  await store.close()
  cleanup()
})

test('an ack arriving just as the write loop finishes is still written (a drain could stall on its last acks)', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  const q = await store.openQueue('up')
  const stranded: number[] = []
  // The window between the loop's last check and its end is a few microtasks wide: try every offset.
  for (let offset = 0; offset < 40; offset++) {
    const [a, b] = await q.appendSeq([msg(1), msg(2)])
    await q.ack([a as bigint])
    for (let k = 0; k < offset; k++) await null
    const written = q.ack([b as bigint]).then(() => true)
    const inTime = await Promise.race([written, new Promise<boolean>((r) => setTimeout(() => r(false), 2000))])
    if (!inTime) {
      stranded.push(offset)
      await q.flush()
    }
  }
  assert.deepEqual(stranded, [], 'offsets whose ack waited for a later write')
  assert.equal(q.stats().depth, 0)
  await store.close()
  cleanup()
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { silentLogger, systemClock, type Message } from '../../src/core/index.ts'
import { LevelHandle, type BatchOp } from '../../src/store-forward/db.ts'
import { LevelRetainedStore } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'

const retained = (topic: string, payload: string): Message => ({ topic, payload: Buffer.from(payload), qos: 1, retain: true })

/** A handle whose writes are recorded (and can be made to fail) before they reach LevelDB. */
async function openCounted(dir: string): Promise<{ h: LevelHandle; writes: BatchOp[][]; failNext: { on: boolean } }> {
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const writes: BatchOp[][] = []
  const failNext = { on: false }
  const write = h.write.bind(h)
  h.write = (ops: BatchOp[], sync: boolean): Promise<void> => {
    writes.push(ops)
    if (failNext.on) {
      failNext.on = false
      return Promise.reject(new Error('disk says no'))
    }
    return write(ops, sync)
  }
  return { h, writes, failNext }
}

const byTopic = (ms: Message[]): Record<string, string> => Object.fromEntries(ms.map((m) => [m.topic, m.payload.toString()]))

test('a burst of retained publishes to a few topics is written as one record per topic, the last one winning', async () => {
  const { dir, cleanup } = tempDir('fieldgate-retained-')
  const { h, writes } = await openCounted(dir)
  try {
    const store = new LevelRetainedStore(h)
    const calls: Array<Promise<void>> = []
    for (let i = 0; i < 1000; i++) calls.push(store.put(retained(`plant/${i % 10}`, `v${i}`)))
    await Promise.all(calls)
    // One write per publish before (1,000 LevelDB batches for 10 topics).
    assert.equal(writes.length, 1)
    assert.equal(writes[0]?.length, 10)
    const expected = Object.fromEntries(Array.from({ length: 10 }, (_, t) => [`plant/${t}`, `v${990 + t}`]))
    assert.deepEqual(byTopic(await store.loadAll()), expected)
  } finally {
    await h.close()
    cleanup()
  }
})

test('changes made while a write is in flight go in the next batch, and put/delete order per topic holds', async () => {
  const { dir, cleanup } = tempDir('fieldgate-retained-')
  const { h, writes } = await openCounted(dir)
  try {
    const store = new LevelRetainedStore(h)
    const first = store.put(retained('a', '1'))
    await Promise.resolve() // the first batch has started
    await Promise.resolve()
    const later = [store.delete('a'), store.put(retained('b', '1')), store.delete('b'), store.put(retained('c', '1')), store.delete('c'), store.put(retained('c', '2'))]
    await Promise.all([first, ...later])
    assert.deepEqual(byTopic(await store.loadAll()), { c: '2' })
    assert.equal(writes.length, 2)
    assert.deepEqual(
      writes[1]?.map((op) => [op.type, op.key.toString('utf8', 2)]),
      [
        ['del', 'a'],
        ['del', 'b'],
        ['put', 'c'],
      ],
    )
  } finally {
    await h.close()
    cleanup()
  }
})

test('close waits for changes not yet written, so a clean shutdown keeps the latest retained messages', async () => {
  const { dir, cleanup } = tempDir('fieldgate-retained-')
  let h = await LevelHandle.open(dir, silentLogger, systemClock)
  try {
    const store = new LevelRetainedStore(h)
    for (let i = 0; i < 100; i++) void store.put(retained(`t/${i % 3}`, `v${i}`))
    await store.close()
    await assert.rejects(store.put(retained('t/0', 'late')), { code: 'QUEUE_CLOSED' })
    await h.close()
    h = await LevelHandle.open(dir, silentLogger, systemClock)
    assert.deepEqual(byTopic(await new LevelRetainedStore(h).loadAll()), { 't/0': 'v99', 't/1': 'v97', 't/2': 'v98' })
  } finally {
    await h.close()
    cleanup()
  }
})

test('a failed write rejects the calls it carried and the next change is written again', async () => {
  const { dir, cleanup } = tempDir('fieldgate-retained-')
  const { h, failNext } = await openCounted(dir)
  try {
    const store = new LevelRetainedStore(h)
    failNext.on = true
    const failed = [store.put(retained('x', '1')), store.put(retained('x', '2'))]
    for (const p of failed) await assert.rejects(p, /disk says no/)
    await store.put(retained('y', '1'))
    assert.deepEqual(byTopic(await store.loadAll()), { y: '1' })
  } finally {
    await h.close()
    cleanup()
  }
})

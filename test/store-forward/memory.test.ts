import assert from 'node:assert/strict'
import { test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { silentLogger } from '../../src/core/index.ts'
import { openStore } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'
import { msg } from './queue-conformance.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function heapMb(): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed / 1e6
}

test('the JavaScript heap does not grow with queue depth: entries live on disk, not in memory', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  const q = await store.openQueue('up')
  await q.append(Array.from({ length: 1000 }, (_, i) => msg(i, { qos: 0 })))
  const before = heapMb()
  // 100k entries of ~100 bytes: ~10 MB if they were held in memory.
  for (let b = 0; b < 100; b++) await q.append(Array.from({ length: 1000 }, (_, i) => msg(b * 1000 + i, { qos: 0, payload: Buffer.alloc(64, i) })))
  const after = heapMb()
  assert.equal(q.stats().depth, 101_000)
  assert.ok(after - before < 3, `heap grew ${(after - before).toFixed(1)} MB for 100k queued entries`)
  // Peeking and acking a window keeps bookkeeping only for that window.
  for (let i = 0; i < 50; i++) {
    const got = await q.peek(100)
    await q.ack(got.map((e) => e.seq))
  }
  assert.ok(heapMb() - before < 3)
  assert.equal(q.stats().depth, 96_000)
  await store.close()
  cleanup()
})

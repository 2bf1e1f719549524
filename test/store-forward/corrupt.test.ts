import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { silentLogger, type Logger } from '../../src/core/index.ts'
import { openStore } from '../../src/store-forward/index.ts'
import type { RepairEvent } from '../../src/store-forward/db.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'
import { msg } from './queue-conformance.ts'

/** A logger that records warn/error lines so tests can see what an operator would read. */
function recordingLogger(lines: string[]): Logger {
  const rec = (level: string) => (a: Record<string, unknown> | string, b?: string) => {
    lines.push(`${level} ${typeof a === 'string' ? a : (b ?? '')}`)
  }
  const l: Logger = { trace: () => undefined, debug: () => undefined, info: rec('info'), warn: rec('warn'), error: rec('error'), fatal: rec('fatal'), child: () => l }
  return l
}

/** Fills a queue past LevelDB's 4 MB write buffer so table (.ldb) files exist. */
async function filledStore(dir: string, n: number, payload = 1000): Promise<void> {
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  const q = await store.openQueue('up')
  for (let b = 0; b < n / 500; b++) await q.append(Array.from({ length: 500 }, (_, i) => msg(b * 500 + i, { payload: Buffer.alloc(payload, i) })))
  await store.retained.put(msg(0, { retain: true }))
  await store.close()
}

async function drain(dir: string, logger: Logger): Promise<{ topics: string[]; depth: number; repairs: RepairEvent[]; health: string; appendedAfter: boolean }> {
  const store = await openStore(storeOptionsFor(dir), logger)
  const q = await store.openQueue('up')
  const depth = q.stats().depth
  const topics: string[] = []
  for (let guard = 0; guard < 1000; guard++) {
    const got = await q.peek(500)
    if (got.length === 0) break
    topics.push(...got.map((e) => e.message.topic))
  }
  await q.append([msg(999_999)])
  const appendedAfter = q.stats().depth === depth + 1
  const st = store.status()
  await store.close()
  return { topics, depth, repairs: (st.details.repairs ?? []) as RepairEvent[], health: st.health, appendedAfter }
}

test('a deleted table file is repaired at open, reported in status and logs, and the queue keeps working', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const data = join(dir, 'data')
  await filledStore(data, 10_000)
  const tables = readdirSync(data).filter((f) => f.endsWith('.ldb'))
  assert.ok(tables.length >= 1, `expected table files, found ${readdirSync(data).join(', ')}`)
  rmSync(join(data, tables[0] as string))
  const lines: string[] = []
  const r = await drain(data, recordingLogger(lines))
  assert.equal(r.repairs.length, 1)
  assert.equal(r.repairs[0]?.action, 'repaired')
  assert.equal(r.health, 'degraded')
  assert.ok(lines.some((l) => /repair/.test(l)))
  // Stats were recounted from what survived, so they match what peek can read.
  assert.equal(r.depth, r.topics.length)
  assert.ok(r.depth < 10_000 && r.depth > 0)
  assert.ok(r.appendedAfter)
  cleanup()
})

test('a truncated log loses at most its torn tail and opens with consistent stats', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const data = join(dir, 'data')
  await filledStore(data, 2000, 50) // small enough to stay in the log
  const log = readdirSync(data).find((f) => f.endsWith('.log')) as string
  truncateSync(join(data, log), Math.floor(statSync(join(data, log)).size / 2))
  const r = await drain(data, silentLogger)
  assert.equal(r.depth, r.topics.length)
  assert.ok(r.depth > 0 && r.depth < 2000)
  // What survived is a prefix, in order: a torn log never leaves holes.
  assert.deepEqual(r.topics, Array.from({ length: r.depth }, (_, i) => `sensors/${i}`))
  assert.ok(r.appendedAfter)
  cleanup()
})

test('a truncated MANIFEST is repaired at open', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const data = join(dir, 'data')
  await filledStore(data, 10_000)
  const manifest = readdirSync(data).find((f) => f.startsWith('MANIFEST-')) as string
  truncateSync(join(data, manifest), 10)
  const r = await drain(data, silentLogger)
  assert.equal(r.repairs[0]?.action, 'repaired')
  assert.equal(r.depth, r.topics.length)
  assert.ok(r.appendedAfter)
  cleanup()
})

test('an open failure that LevelDB does not call corruption stops with a clear error and leaves every file as it was', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const data = join(dir, 'data')
  await filledStore(data, 1000, 50)
  // A LOCK that is a directory fails the open with an IO error: no reason to touch the data.
  rmSync(join(data, 'LOCK'))
  mkdirSync(join(data, 'LOCK'))
  const before = snapshot(dir)
  const lines: string[] = []
  await assert.rejects(openStore(storeOptionsFor(data), recordingLogger(lines)), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'QUEUE_WRITE_FAILED')
    assert.match(err.message, /left untouched/)
    return true
  })
  assert.deepEqual(snapshot(dir), before)
  assert.ok(!lines.some((l) => /repair/.test(l)), lines.join('\n'))
  cleanup()
})

/**
 * Every path under dir with a hash of its content, to prove nothing moved, vanished or changed.
 * LevelDB's own text log (LOG, rotated to LOG.old at each open) is not data and is left out.
 */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.name === 'LOG' || e.name === 'LOG.old') continue
    const p = join(e.parentPath, e.name)
    out[p] = e.isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(p)).digest('hex')
  }
  return out
}

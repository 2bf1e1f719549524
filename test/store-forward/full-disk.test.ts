import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isFieldgateError, silentLogger, systemClock } from '../../src/core/index.ts'
import { LevelQueue } from '../../src/store-forward/index.ts'
import { LevelHandle } from '../../src/store-forward/db.ts'
import type { QueueOptions } from '../../src/store-forward/types.ts'
import { captureLogger, type LogLine } from '../helpers/logger.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { msg } from './queue-conformance.ts'

/** Mounting a tmpfs needs root: CI runs as root and always runs these; a developer's non-root run skips them. */
const skip = process.getuid?.() === 0 || process.env.CI === 'true' ? false : 'needs root to mount a tmpfs'
const opts: QueueOptions = { maxBytes: 1e9, maxAge: 0, policy: 'drop-oldest', groupCommitWindow: 0, maxBatch: 1000, clock: systemClock, logger: silentLogger }

/** Fills the file system holding `dir` with a filler file until ENOSPC (bounded); returns its path. */
function fill(dir: string): string {
  const file = join(dir, 'filler')
  const fd = openSync(file, 'w')
  const chunk = Buffer.alloc(64 * 1024, 1)
  try {
    for (let i = 0; i < 10_000; i++) writeSync(fd, chunk)
    throw new Error('the file system never filled')
  } catch (err) {
    if (!(err instanceof Error && 'code' in err && err.code === 'ENOSPC')) throw err
    // top up whatever is left below one chunk
    const byte = Buffer.alloc(1, 1)
    for (let i = 0; i < 65_536; i++) {
      try {
        writeSync(fd, byte)
      } catch {
        break
      }
    }
  } finally {
    closeSync(fd)
  }
  return file
}

test('acks whose delete failed on a full disk are written once space returns, without any new append', { timeout: 30_000, skip }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-full-')
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt])
  let h: LevelHandle | undefined
  try {
    const lines: LogLine[] = []
    h = await LevelHandle.open(join(mnt, 'db'), captureLogger(lines), systemClock)
    const q = await LevelQueue.open('up', h, opts)
    await q.append(Array.from({ length: 500 }, (_, i) => msg(i, { payload: Buffer.alloc(200, 120) })))
    const peeked = await q.peek(500)
    assert.equal(peeked.length, 500)

    const filler = fill(mnt)
    // 500 deletes plus the metadata record need new pages of the log: the disk has none.
    await assert.rejects(q.ack(peeked.map((e) => e.seq)), (err: unknown) => isFieldgateError(err, 'QUEUE_WRITE_FAILED'))
    assert.equal(q.stats().depth, 500, 'nothing deleted while the disk is full')
    assert.notEqual(q.stats().lastError, null)
    // Every batch fails on a full disk; the log gets one line, not one per batch.
    for (let i = 0; i < 20; i++) {
      await assert.rejects(q.append([msg(1000 + i, { payload: Buffer.alloc(8000, 120) })]), (err: unknown) => isFieldgateError(err, 'QUEUE_WRITE_FAILED'))
    }
    const failed = lines.filter((l) => l.msg.startsWith('store: write failed'))
    assert.equal(failed.length, 1, 'one error line while writes keep failing')
    assert.match(String(failed[0]?.obj.err), /No space left on device/)

    rmSync(filler)
    // No append comes to carry the acks: the queue retries them by itself.
    await waitFor(() => q.stats().depth === 0, 10_000, 50, 'the failed acks to be written')
    assert.equal(q.stats().lastError, null)
    const back = lines.find((l) => l.msg === 'store: writes succeed again')
    assert.ok(back, 'the recovery is logged')
    assert.ok(Number(back.obj.failedSinceLastLog) >= 20, `with the count of failures not logged: ${String(back.obj.failedSinceLastLog)}`)
    await q.close()
    await h.close()

    // The deletes are on disk: a reopened queue is empty.
    h = await LevelHandle.open(join(mnt, 'db'), silentLogger, systemClock)
    const again = await LevelQueue.open('up', h, opts)
    assert.equal(again.stats().depth, 0)
    assert.deepEqual(await again.peek(10), [])
    await again.close()
  } finally {
    await h?.close().catch(() => undefined)
    try {
      execFileSync('umount', [mnt])
    } catch {
      execFileSync('umount', ['-l', mnt])
    }
    cleanup()
  }
})

test('opening the store on a full disk fails with a clear error and leaves the data in place for when space returns', { timeout: 30_000, skip }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-full-')
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt])
  let h: LevelHandle | undefined
  try {
    const location = join(mnt, 'db')
    h = await LevelHandle.open(location, silentLogger, systemClock)
    const q = await LevelQueue.open('up', h, opts)
    await q.append(Array.from({ length: 500 }, (_, i) => msg(i, { payload: Buffer.alloc(200, 120) })))
    await q.close()
    await h.close()
    h = undefined
    // LevelDB replays its log into a new table at open: no room for it now.
    const filler = fill(mnt)
    await assert.rejects(LevelHandle.open(location, silentLogger, systemClock), (err: unknown) => {
      assert.ok(isFieldgateError(err, 'QUEUE_WRITE_FAILED'), String(err))
      assert.match(err.message, /No space left on device/)
      assert.match(err.message, /Free disk space/)
      assert.ok(err.message.includes(location))
      return true
    })
    assert.deepEqual(readdirSync(mnt).sort(), ['db', 'filler'], 'nothing moved aside')

    rmSync(filler)
    h = await LevelHandle.open(location, silentLogger, systemClock)
    assert.equal(h.recovered, false, 'opened as is, no repair')
    const again = await LevelQueue.open('up', h, opts)
    assert.equal(again.stats().depth, 500)
    const entries = await again.peek(1000)
    assert.deepEqual(
      entries.map((e) => e.message.topic),
      Array.from({ length: 500 }, (_, i) => `sensors/${i}`),
    )
    await again.close()
  } finally {
    await h?.close().catch(() => undefined)
    try {
      execFileSync('umount', [mnt])
    } catch {
      execFileSync('umount', ['-l', mnt])
    }
    cleanup()
  }
})

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isFieldgateError } from '../../src/core/errors.ts'
import { manifestToJson } from '../../src/update/manifest.ts'
import { UpdateReceiver } from '../../src/update/receiver.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeElf, manifestFor, newKey, policy } from './helpers.ts'

/** Mounting a tmpfs needs root: CI runs as root and always runs these; a developer's non-root run skips them. */
const skip = process.getuid?.() === 0 || process.env.CI === 'true' ? false : 'needs root to mount a tmpfs'
const key = newKey()
const CHUNK = 64 * 1024

async function onSmallDisk(f: (dir: string) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir('fieldgate-update-disk-')
  const mnt = join(dir, 'mnt')
  mkdirSync(mnt)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])
  try {
    await f(mnt)
  } finally {
    try {
      execFileSync('umount', [mnt])
    } catch {
      execFileSync('umount', ['-l', mnt])
    }
    cleanup()
  }
}

test('an announce larger than the free space is refused before anything is written', { skip }, async () => {
  await onSmallDisk(async (mnt) => {
    const bytes = fakeElf('x64', Buffer.alloc(2 * 1024 * 1024, 1))
    const r = await UpdateReceiver.open(join(mnt, 'update'), policy([key.trusted]))
    await assert.rejects(r.announce(manifestToJson(manifestFor(bytes, key.priv, { chunkSize: CHUNK }))), (e: unknown) => isFieldgateError(e, 'UPDATE_DISK_FULL') && /needs .* MB in .*, only .* MB is free; free space/.test(e.message) && !e.message.includes('\n'))
    assert.deepEqual(readdirSync(join(mnt, 'update')), [])
    await r.close()
  })
})

test('the disk filling up during the download ends it with one line and removes the staging files', { skip }, async () => {
  await onSmallDisk(async (mnt) => {
    const bytes = fakeElf('x64', Buffer.alloc(600 * 1024, 2))
    const r = await UpdateReceiver.open(join(mnt, 'update'), policy([key.trusted]), { spareBytes: 0 })
    await r.announce(manifestToJson(manifestFor(bytes, key.priv, { chunkSize: CHUNK })))
    await r.chunk(0, bytes.subarray(0, CHUNK))
    // Something else (the queue) takes the space meanwhile.
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(700 * 1024))
    let failure: unknown = null
    for (let off = CHUNK; off < bytes.length && failure === null; off += CHUNK) {
      await r.chunk(off, bytes.subarray(off, off + CHUNK)).catch((e: unknown) => (failure = e))
    }
    assert.ok(isFieldgateError(failure, 'UPDATE_DISK_FULL'), String(failure))
    assert.match((failure as Error).message, /^update: the disk holding .* is full \(\d+ of \d+ bytes of version 0.2.0 received\); the download was removed; free space and announce it again$/)
    assert.deepEqual(readdirSync(join(mnt, 'update')), [])
    assert.deepEqual(r.status(), { state: 'idle', lastError: (failure as Error).message })
    await r.close()
  })
})

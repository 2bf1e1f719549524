import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { isFieldgateError } from '../../src/core/errors.ts'
import { manifestToJson } from '../../src/update/manifest.ts'
import { UpdateReceiver } from '../../src/update/receiver.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeElf, manifestFor, newKey, policy } from './helpers.ts'

const CHUNK = 1024
const key = newKey()


test('model: any order, duplication, loss and corruption of chunks across restarts completes iff every chunk arrived intact, never with wrong bytes', { timeout: 170_000 }, async () => {
  const seen = { complete: 0, incomplete: 0 }
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 21, max: 6 * CHUNK }),
      fc.array(fc.oneof({ weight: 8, arbitrary: fc.record({ t: fc.constant('send' as const), i: fc.nat({ max: 5 }), corrupt: fc.boolean() }) }, { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) }, { weight: 1, arbitrary: fc.constant({ t: 'torn' as const }) }), { maxLength: 60, size: 'max' }),
      fc.integer({ min: 0, max: 255 }),
      async (size, actions, seed) => {
        const bytes = fakeElf('x64', Buffer.from(Array.from({ length: size - 20 }, (_, j) => (j * 31 + seed) & 0xff)))
        const m = manifestFor(bytes, key.priv, { chunkSize: CHUNK })
        const chunks = m.chunks.length
        const { dir, cleanup } = tempDir('fieldgate-recv-')
        try {
          let r = await UpdateReceiver.open(dir, policy([key.trusted]))
          await r.announce(manifestToJson(m))
          // The model: chunks durably recorded, in the order they were recorded.
          const recorded: number[] = []
          for (const a of actions) {
            if (a.t === 'restart' || a.t === 'torn') {
              await r.close()
              if (a.t === 'torn' && recorded.length > 0) {
                // A crash while appending the last record: that chunk counts as not received.
                truncateSync(join(dir, 'done.log'), statSync(join(dir, 'done.log')).size - 2)
                recorded.pop()
              }
              r = await UpdateReceiver.open(dir, policy([key.trusted]))
              const again = await r.announce(manifestToJson(m))
              assert.equal(again.resumed, true)
              continue
            }
            const i = a.i % chunks
            const part = Buffer.from(bytes.subarray(i * CHUNK, (i + 1) * CHUNK))
            const at = (i * 7) % part.length
            if (a.corrupt) part[at] = (part[at] ?? 0) ^ 0x5a
            const res = await r.chunk(i * CHUNK, part)
            if (recorded.includes(i)) assert.equal(res.kind, 'duplicate')
            else if (a.corrupt) assert.equal(res.kind, 'refused')
            else {
              assert.equal(res.kind, 'written')
              recorded.push(i)
            }
          }
          const missing = r.missing()
          const expectMissing = Array.from({ length: chunks }, (_, i) => i).filter((i) => !recorded.includes(i))
          assert.deepEqual(missing.flatMap((g) => Array.from({ length: Math.ceil(g.length / CHUNK) }, (_, k) => g.offset / CHUNK + k)), expectMissing)
          assert.equal(r.status().state === 'complete', expectMissing.length === 0)
          seen[expectMissing.length === 0 ? 'complete' : 'incomplete']++
          if (expectMissing.length === 0) {
            const v = await r.finish()
            assert.deepEqual(readFileSync(v.file), bytes)
          } else {
            await assert.rejects(r.finish(), (err: unknown) => isFieldgateError(err, 'UPDATE_FAILED') && /not complete/.test(err.message))
            // What is on disk for recorded chunks is exactly the original.
            const onDisk = readFileSync(join(dir, 'staging.bin'))
            for (const i of recorded) assert.deepEqual(onDisk.subarray(i * CHUNK, (i + 1) * CHUNK), bytes.subarray(i * CHUNK, (i + 1) * CHUNK))
          }
          await r.close()
        } finally {
          cleanup()
        }
      },
    ),
    { numRuns: 80 },
  )
  // Both outcomes were generated, so "iff" was checked in both directions.
  assert.ok(seen.complete > 5 && seen.incomplete > 5, JSON.stringify(seen))
})

test('chunks off a boundary, of the wrong length or outside the file are refused and nothing is written', async () => {
  const { dir, cleanup } = tempDir('fieldgate-recv-')
  try {
    const bytes = fakeElf('x64', Buffer.alloc(3000, 3))
    const m = manifestFor(bytes, key.priv, { chunkSize: CHUNK })
    const r = await UpdateReceiver.open(dir, policy([key.trusted]))
    await r.announce(manifestToJson(m))
    for (const [off, len, re] of [
      [1, CHUNK, /not at a chunk boundary/],
      [0, CHUNK - 1, /has 1023 bytes, expected 1024/],
      [4096, CHUNK, /outside/],
    ] as const) {
      const res = await r.chunk(off, Buffer.from(bytes.subarray(off, off + len)))
      assert.equal(res.kind, 'refused')
      assert.match(res.kind === 'refused' ? res.reason : '', re)
    }
    assert.equal(r.status().chunksDone, 0)
    assert.equal(statSync(join(dir, 'staging.bin')).size, 0)
    await r.close()
  } finally {
    cleanup()
  }
})

test('a refused announce leaves a download in progress untouched; a different update replaces it', async () => {
  const { dir, cleanup } = tempDir('fieldgate-recv-')
  try {
    const bytes = fakeElf('x64', Buffer.alloc(3000, 3))
    const m = manifestFor(bytes, key.priv, { chunkSize: CHUNK })
    const r = await UpdateReceiver.open(dir, policy([key.trusted]))
    await r.announce(manifestToJson(m))
    await r.chunk(0, bytes.subarray(0, CHUNK))
    const stranger = newKey()
    await assert.rejects(r.announce(manifestToJson(manifestFor(bytes, stranger.priv, { chunkSize: CHUNK }))), (e: unknown) => isFieldgateError(e, 'UPDATE_REFUSED'))
    assert.equal(r.status().chunksDone, 1)
    const next = await r.announce(manifestToJson(manifestFor(bytes, key.priv, { chunkSize: CHUNK, version: '0.3.0' })))
    assert.equal(next.resumed, false)
    assert.equal(r.status().chunksDone, 0)
    await r.discard()
    assert.deepEqual(readdirSync(dir), [])
    await r.close()
  } finally {
    cleanup()
  }
})

test('signed bytes that are not an executable for the signed architecture are refused at the end and removed', async () => {
  const { dir, cleanup } = tempDir('fieldgate-recv-')
  try {
    const bytes = fakeElf('arm64', Buffer.alloc(2000, 9))
    const m = manifestFor(bytes, key.priv, { chunkSize: CHUNK, arch: 'x64' })
    const r = await UpdateReceiver.open(dir, policy([key.trusted]))
    await r.announce(manifestToJson(m))
    for (let off = 0; off < bytes.length; off += CHUNK) await r.chunk(off, bytes.subarray(off, off + CHUNK))
    await assert.rejects(r.finish(), (e: unknown) => isFieldgateError(e, 'UPDATE_REFUSED') && /signed as x64 but the file is a arm64 executable/.test(e.message))
    assert.equal(existsSync(join(dir, 'staging.bin')), false)
    await r.close()
  } finally {
    cleanup()
  }
})

test('bytes damaged on disk after they were written are found by the read-back and asked for again', async () => {
  const { dir, cleanup } = tempDir('fieldgate-recv-')
  try {
    const bytes = fakeElf('x64', Buffer.alloc(3000, 5))
    const m = manifestFor(bytes, key.priv, { chunkSize: CHUNK })
    const r = await UpdateReceiver.open(dir, policy([key.trusted]))
    await r.announce(manifestToJson(m))
    for (let off = 0; off < bytes.length; off += CHUNK) await r.chunk(off, bytes.subarray(off, off + CHUNK))
    const onDisk = readFileSync(join(dir, 'staging.bin'))
    onDisk[CHUNK + 10] = (onDisk[CHUNK + 10] ?? 0) ^ 1
    writeFileSync(join(dir, 'staging.bin'), onDisk)
    await assert.rejects(r.finish(), (e: unknown) => isFieldgateError(e, 'UPDATE_FAILED') && /1 chunk\(s\)/.test(e.message))
    assert.deepEqual(r.missing(), [{ offset: CHUNK, length: CHUNK }])
    await r.chunk(CHUNK, bytes.subarray(CHUNK, 2 * CHUNK))
    assert.deepEqual(readFileSync((await r.finish()).file), bytes)
    await r.close()
  } finally {
    cleanup()
  }
})

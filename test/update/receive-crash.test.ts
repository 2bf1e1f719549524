import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { manifestToJson } from '../../src/update/manifest.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeElf, manifestFor, newKey } from './helpers.ts'

const CHILD = join(import.meta.dirname, 'receive-child.ts')
const TSX = import.meta.resolve('tsx')

test('a receiving process killed with SIGKILL mid-download resumes in the next one, which fetches only what was missing and ends with the exact bytes', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-recv-crash-')
  try {
    const key = newKey()
    const bytes = fakeElf('x64', Buffer.from(Array.from({ length: 40 * 1024 }, (_, i) => (i * 13) & 0xff)))
    const file = join(dir, 'new.bin')
    writeFileSync(file, bytes)
    const manifest = join(dir, 'new.manifest.json')
    writeFileSync(manifest, manifestToJson(manifestFor(bytes, key.priv, { chunkSize: 1024 })))
    const chunks = Math.ceil(bytes.length / 1024)
    const staging = join(dir, 'update')
    const run = (stopAfter: number) => spawnSync(process.execPath, ['--import', TSX, CHILD, staging, file, manifest, key.text, String(stopAfter)], { encoding: 'utf8', timeout: 40_000 })
    const first = run(17)
    assert.equal(first.signal, 'SIGKILL', first.stderr)
    const second = run(-1)
    assert.equal(second.status, 0, second.stderr)
    const out = JSON.parse(second.stdout) as { resumed: boolean; sent: number; file: string }
    assert.equal(out.resumed, true)
    // The 17 chunks written before the kill are not fetched again.
    assert.equal(out.sent, chunks - 17)
    assert.deepEqual(readFileSync(out.file), bytes)
  } finally {
    cleanup()
  }
})

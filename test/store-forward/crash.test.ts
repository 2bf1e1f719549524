import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { silentLogger } from '../../src/core/index.ts'
import { openStore } from '../../src/store-forward/index.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'

const child = join(fileURLToPath(new URL('.', import.meta.url)), 'crash-child.ts')

test('every append acknowledged before kill -9 is in the queue after reopening, in order', { timeout: 50_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-crash-')
  const data = join(dir, 'data')
  const proc = spawn(process.execPath, ['--import', 'tsx', child, data], { stdio: ['ignore', 'pipe', 'pipe'] })
  const acked = new Map<number, number>() // appender → highest acknowledged i
  let count = 0
  let buf = ''
  let stderr = ''
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    const lines = buf.split('\n')
    buf = lines.pop() ?? ''
    for (const line of lines) {
      const m = /^ack (\d+) (\d+)$/.exec(line)
      if (!m) continue
      acked.set(Number(m[1]), Number(m[2]))
      count++
    }
  })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  await waitFor(() => count >= 3000 || proc.exitCode !== null, 30_000, 10, 'the child to acknowledge 3000 appends')
  assert.equal(proc.exitCode, null, `child exited early: ${stderr}`)
  proc.kill('SIGKILL')
  await exited
  // Lines read after the kill were written before it: they count as acknowledged too.
  const store = await openStore(storeOptionsFor(data), silentLogger)
  const q = await store.openQueue('up')
  const seen = new Map<number, number[]>()
  for (let guard = 0; guard < 10_000; guard++) {
    const got = await q.peek(1000)
    if (got.length === 0) break
    for (const e of got) {
      const a = Number(e.message.topic.split('/')[1])
      const list = seen.get(a) ?? []
      list.push(Number(e.message.payload.toString()))
      seen.set(a, list)
    }
  }
  for (const [a, hi] of acked) {
    const list = seen.get(a) ?? []
    // Each appender's entries are exactly 0..n in order, with n >= the last one acknowledged.
    assert.deepEqual(list, Array.from({ length: list.length }, (_, i) => i), `appender ${a} entries out of order or missing`)
    assert.ok(list.length - 1 >= hi, `appender ${a}: acknowledged ${hi}, found only up to ${list.length - 1}`)
  }
  assert.ok(count >= 3000)
  await store.close()
  cleanup()
})

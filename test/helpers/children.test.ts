import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'

const TSX = import.meta.resolve('tsx')

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('children a test file started are killed when the test runner stops that file with SIGTERM', { timeout: 60_000 }, async () => {
  const parent = spawn(process.execPath, ['--import', TSX, join(import.meta.dirname, 'children-fixture.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())))
    parent.once('exit', () => reject(new Error('fixture exited early')))
  })
  assert.ok(alive(pid), 'the tracked child runs')
  const exited = new Promise((r) => parent.once('exit', r))
  parent.kill('SIGTERM')
  await exited
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50))
  assert.equal(alive(pid), false, `child ${pid} outlived the test process`)
})

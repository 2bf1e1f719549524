import assert from 'node:assert/strict'
import { execFile, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { commitTrial, installUpdate, lastOutcome, readTrial } from '../../src/update/install.ts'
import { GUARD_NAME, updateFiles } from '../../src/update/files.ts'
import { manifestToJson } from '../../src/update/manifest.ts'
import { tempDir } from '../helpers/tmp.ts'
import { manifestFor, newKey } from './helpers.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const GUARD = join(ROOT, 'hardware/systemd', GUARD_NAME)
const CHILD = join(import.meta.dirname, 'install-child.ts')
const TSX = import.meta.resolve('tsx')
const key = newKey()
const script = (name: string): Buffer => Buffer.from(`#!/bin/sh\necho ${name}\n`)

/** A directory like /usr/local/lib/fieldgate: the running executable ("old") and the guard beside it. */
function layout(dir: string): { exe: string; file: string; manifest: string } {
  const exe = join(dir, 'fieldgate')
  writeFileSync(exe, script('old'), { mode: 0o755 })
  copyFileSync(GUARD, join(dir, GUARD_NAME))
  const file = join(dir, 'download.bin')
  const bytes = script('new')
  writeFileSync(file, bytes)
  const manifest = join(dir, 'download.manifest.json')
  writeFileSync(manifest, manifestToJson(manifestFor(bytes, key.priv, { chunkSize: 1024 })))
  return { exe, file, manifest }
}

/** What systemd does at a start: ExecStartPre (the guard), then ExecStart. Returns what ran. */
function start(exe: string, env: Record<string, string> = {}): { guard: number | null; ran: string; code: number | null } {
  const g = spawnSync(join(exe, '..', GUARD_NAME), [exe], { env: { ...process.env, ...env }, encoding: 'utf8' })
  if (g.status !== 0) return { guard: g.status, ran: '', code: null }
  const r = spawnSync(exe, [], { encoding: 'utf8' })
  return { guard: 0, ran: r.stdout.trim(), code: r.status }
}

const STEPS = ['copying', 'copied', 'kept-previous', 'marked', 'swapped', 'never'] as const

for (const step of STEPS) {
  test(`kill -9 of the install ${step === 'never' ? 'never happening' : `after "${step}"`}: an executable that runs is in place at every later start, and a failed trial brings "old" back`, { timeout: 60_000 }, async () => {
    const { dir, cleanup } = tempDir('fieldgate-kill-')
    try {
      const { exe, file, manifest } = layout(dir)
      const child = spawnSync(process.execPath, ['--import', TSX, CHILD, exe, file, manifest, step], { encoding: 'utf8', timeout: 30_000 })
      if (step === 'never') assert.equal(child.status, 0, child.stderr)
      else assert.equal(child.signal, 'SIGKILL', child.stderr)
      const swapped = step === 'swapped' || step === 'never'
      // First start: the new version on trial if the swap happened, else the old one and no trial.
      const first = start(exe)
      assert.deepEqual(first, { guard: 0, ran: swapped ? 'new' : 'old', code: 0 })
      assert.equal(readTrial(exe) !== null, swapped)
      assert.equal(existsSync(updateFiles(exe).incoming), false)
      // The trial start did not commit (it crashed, hung or missed its deadline): the next start rolls back.
      const second = start(exe)
      assert.deepEqual(second, { guard: 0, ran: 'old', code: 0 })
      assert.equal(readTrial(exe), null)
      if (swapped) {
        assert.equal(lastOutcome(exe)?.outcome, 'rolled-back')
        assert.equal(readFileSync(updateFiles(exe).failed, 'utf8'), script('new').toString())
      }
      // And nothing is left that would change the following starts.
      assert.deepEqual(start(exe), { guard: 0, ran: 'old', code: 0 })
    } finally {
      cleanup()
    }
  })
}

test('a trial that commits stays: later starts run the new version, the old one is kept as .previous', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-kill-')
  try {
    const { exe, file, manifest } = layout(dir)
    await run(process.execPath, ['--import', TSX, CHILD, exe, file, manifest, 'never'], { timeout: 30_000 })
    assert.deepEqual(start(exe), { guard: 0, ran: 'new', code: 0 })
    const trial = readTrial(exe)
    assert.ok(trial)
    await commitTrial(exe, trial, 'healthy')
    for (let i = 0; i < 3; i++) assert.deepEqual(start(exe), { guard: 0, ran: 'new', code: 0 })
    assert.equal(lastOutcome(exe)?.outcome, 'committed')
    assert.equal(readFileSync(updateFiles(exe).previous, 'utf8'), script('old').toString())
  } finally {
    cleanup()
  }
})

for (const step of ['keep-failed', 'result', 'restore', 'clear']) {
  test(`kill -9 of the guard's rollback at "${step}": the executable in place runs, and the next start finishes the rollback`, { timeout: 60_000 }, async () => {
    const { dir, cleanup } = tempDir('fieldgate-kill-')
    try {
      const { exe, file, manifest } = layout(dir)
      await run(process.execPath, ['--import', TSX, CHILD, exe, file, manifest, 'never'], { timeout: 30_000 })
      assert.equal(start(exe).ran, 'new')
      const killed = start(exe, { FG_TEST_GUARD_KILL_AT: step })
      assert.notEqual(killed.guard, 0)
      const inPlace = spawnSync(exe, [], { encoding: 'utf8' })
      assert.equal(inPlace.status, 0)
      assert.match(inPlace.stdout.trim(), /^(old|new)$/)
      assert.deepEqual(start(exe), { guard: 0, ran: 'old', code: 0 })
      assert.equal(readTrial(exe), null)
      assert.equal(lastOutcome(exe)?.outcome, 'rolled-back')
      assert.match(lastOutcome(exe)?.reason ?? '', /crashed or hung at start/)
    } finally {
      cleanup()
    }
  })
}

test('install refuses without the guard beside the executable, and while another version is on trial', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-kill-')
  try {
    const { exe, file, manifest } = layout(dir)
    const m = (await import('../../src/update/manifest.ts')).parseManifest(readFileSync(manifest, 'utf8'))
    await installUpdate(file, m, { exe, runningVersion: '0.1.0' })
    await assert.rejects(installUpdate(file, m, { exe, runningVersion: '0.1.0' }), /version 0.2.0 is still on trial/)
    const { dir: bare, cleanup: c2 } = tempDir('fieldgate-kill-')
    try {
      writeFileSync(join(bare, 'fieldgate'), script('old'), { mode: 0o755 })
      await assert.rejects(installUpdate(file, m, { exe: join(bare, 'fieldgate'), runningVersion: '0.1.0' }), /rollback guard .* is missing/)
      assert.equal(readFileSync(join(bare, 'fieldgate'), 'utf8'), script('old').toString())
    } finally {
      c2()
    }
  } finally {
    cleanup()
  }
})

test('a rollback whose restore fails keeps the trial markers, says so and exits non-zero; the executable in place still starts and the next start rolls back', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-kill-')
  try {
    const { exe, file, manifest } = layout(dir)
    await run(process.execPath, ['--import', TSX, CHILD, exe, file, manifest, 'never'], { timeout: 30_000 })
    assert.equal(start(exe).ran, 'new')
    // The tests run as root, for whom a read-only directory does not stop a rename; an `mv` ahead in PATH
    // fails the restore (`mv -f EXE.previous EXE`) the way EROFS or EIO would, and runs every other mv.
    const shims = join(dir, 'shims')
    mkdirSync(shims)
    writeFileSync(join(shims, 'mv'), `#!/bin/sh\nfor a in "$@"; do case "$a" in *.previous) echo "mv: cannot move '$a': Read-only file system" >&2; exit 1;; esac; done\nexec ${spawnSync('sh', ['-c', 'command -v mv'], { encoding: 'utf8' }).stdout.trim()} "$@"\n`, { mode: 0o755 })
    const g = spawnSync(join(dir, GUARD_NAME), [exe], { env: { ...process.env, PATH: `${shims}:${process.env.PATH ?? ''}` }, encoding: 'utf8' })
    assert.notEqual(g.status, 0)
    assert.match(g.stderr, /rollback .*failed/)
    assert.doesNotMatch(g.stderr, /rolled back to/)
    assert.ok(readTrial(exe), 'the trial marker is kept')
    assert.ok(existsSync(updateFiles(exe).tried), 'the tried marker is kept')
    // ExecStartPre=-: the unit starts the gateway anyway, and what is in place runs.
    const r = spawnSync(exe, [], { encoding: 'utf8' })
    assert.deepEqual({ code: r.status, ran: r.stdout.trim() }, { code: 0, ran: 'new' })
    // The next start (the fault gone) retries the rollback and finishes it.
    assert.deepEqual(start(exe), { guard: 0, ran: 'old', code: 0 })
    assert.equal(readTrial(exe), null)
    assert.equal(existsSync(updateFiles(exe).tried), false)
    assert.equal(lastOutcome(exe)?.outcome, 'rolled-back')
  } finally {
    cleanup()
  }
})

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { silentLogger } from '../../src/core/index.ts'
import { storeOptions } from '../../src/gateway/options/storage.ts'
import { openStore } from '../../src/store-forward/index.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir } from '../helpers/tmp.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const TSX = import.meta.resolve('tsx')
// A real unprivileged user, made for this test and removed after it (the tests run as root in CI).
const USER = `fgperm${process.pid % 100000}`
let uid = 0
let gid = 0

before(() => {
  assert.equal(process.getuid?.(), 0, 'this test creates a user: run it as root (CI does)')
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER])
  uid = Number(execFileSync('id', ['-u', USER]).toString().trim())
  gid = Number(execFileSync('id', ['-g', USER]).toString().trim())
})

after(() => {
  execFileSync('userdel', [USER])
})

/** Runs the CLI as the test user (bounded) and returns exit code and output. */
function asUser(args: string[], cwd: string, timeout = 20_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd }
    const p = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli.ts'), ...args], { cwd, env, uid, gid, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const t = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`still running after ${timeout} ms:\n${out}`))
    }, timeout)
    p.once('exit', (code) => {
      clearTimeout(t)
      resolve({ code, out })
    })
  })
}

/** Every path under dir with a hash of its content (LevelDB's text LOG is not data and is left out). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.name === 'LOG' || e.name === 'LOG.old') continue
    const p = join(e.parentPath, e.name)
    out[p] = e.isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(p)).digest('hex')
  }
  return out
}

test('a data dir whose files the service user cannot read stops the start with a clear line and every file is left as it was', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    chmodSync(dir, 0o755)
    // The service user owns /var/lib/fieldgate (so it could rename or delete inside it) ...
    const state = join(dir, 'state')
    const data = join(state, 'data')
    mkdirSync(state)
    // ... but the database files were written by root (a restore or a manual run as root): 0600 root.
    const store = await openStore(storeOptions({ data_dir: data, max_bytes: 1e8, max_age: 86_400_000, policy: 'drop-oldest', group_commit_window: 0, max_batch: 100, write_buffer_size: 1 << 20, cache_size: 1 << 20 }), silentLogger)
    const q = await store.openQueue('cloud')
    await q.append([{ topic: 'a/b', payload: Buffer.from('kept'), qos: 1, retain: false }])
    await store.close()
    for (const f of readdirSync(data)) chmodSync(join(data, f), 0o600)
    chownSync(state, uid, gid)
    chownSync(data, uid, gid)
    const before = snapshot(state)
    const port = await freePort()
    const cfg = join(dir, 'gw.toml')
    writeFileSync(cfg, `[storage]\ndata_dir = "${data}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${port}\n`)
    chmodSync(cfg, 0o644)

    const c = await asUser(['check', '--config', cfg], dir)
    assert.equal(c.code, 1, c.out)
    assert.match(c.out, /FAIL\s+storage\.data_dir .*cannot read and write/)

    const r = await asUser(['run', '--config', cfg], dir)
    assert.notEqual(r.code, 0, r.out)
    assert.doesNotMatch(r.out, /^\s+at .+:\d+:\d+\)?$/m, r.out)
    const line = r.out.split('\n').filter((l) => l.startsWith('fieldgate:'))
    assert.equal(line.length, 1, r.out)
    assert.match(line[0] ?? '', new RegExp(`storage\\.data_dir: .*user ${USER} may not read or write its files \\(permission denied\\).*left untouched`))
    assert.doesNotMatch(r.out, /repair|moved .*aside|corrupt/i)
    assert.deepEqual(snapshot(state), before, 'files were moved, repaired or deleted')
    assert.deepEqual(readdirSync(state), ['data'])
  } finally {
    cleanup()
  }
})

test('a data dir the service user cannot create (parent owned by root) stops the start with a clear line', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    chmodSync(dir, 0o755)
    const port = await freePort()
    const cfg = join(dir, 'gw.toml')
    writeFileSync(cfg, `[storage]\ndata_dir = "${join(dir, 'root-only', 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${port}\n`)
    mkdirSync(join(dir, 'root-only'), { mode: 0o755 })
    const r = await asUser(['run', '--config', cfg], dir)
    assert.notEqual(r.code, 0)
    assert.match(r.out, new RegExp(`fieldgate: cannot start: storage\\.data_dir: .*cannot be created by user ${USER} \\(permission denied\\)`))
    assert.deepEqual(readdirSync(join(dir, 'root-only')), [])
  } finally {
    cleanup()
  }
})

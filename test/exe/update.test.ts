import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe } from '../../scripts/build-exe.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { Supervisor } from './supervisor.ts'

const exec = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const UNIT = join(ROOT, 'hardware/systemd/fieldgate.service')
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex')
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))

let t: { dir: string; cleanup: () => void }
let lib = ''
let exe = ''
let cfg = ''
let statusPort = 0
let mosq: MosquittoHandle
let sup: Supervisor
const builds: Record<string, string> = {}

/** Runs an executable of the scratch install; resolves with its exit code and output, never throws. */
const fg = (cmd: string, args: string[]) =>
  exec(cmd, args, { env, cwd: t.dir, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )
const healthy = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status === 200
const outcome = (): string => {
  try {
    return readFileSync(join(lib, 'fieldgate.update-result'), 'utf8')
  } catch {
    return ''
  }
}
/** Every file of the install directory with its hash: "nothing changed" is this being equal. */
const snapshot = (): Record<string, string> => Object.fromEntries(readdirSync(lib).sort().map((f) => [f, statSync(join(lib, f)).isFile() ? sha(join(lib, f)) : 'dir']))

before(async () => {
  const [r] = await buildExe(['x64'])
  t = tempDir('fieldgate-ota-')
  lib = join(t.dir, 'usr/local/lib/fieldgate')
  mkdirSync(lib, { recursive: true })
  exe = join(lib, 'fieldgate')
  copyFileSync(r?.exe ?? '', exe)
  copyFileSync(join(ROOT, 'hardware/systemd/fieldgate-update-guard'), join(lib, 'fieldgate-update-guard'))
  // Version 0.2.0: the same build with bytes appended (an ELF ignores them; its hash differs). Version
  // 0.4.0 likewise. 0.3.0 is a real x64 executable that fails at once, like a broken build.
  for (const [v, tag] of [['0.2.0', 'two'], ['0.4.0', 'six']] as const) {
    builds[v] = join(t.dir, `fieldgate-${v}`)
    copyFileSync(r?.exe ?? '', builds[v])
    appendFileSync(builds[v], `fieldgate test build ${tag}\n`)
  }
  builds['0.3.0'] = join(t.dir, 'fieldgate-0.3.0')
  copyFileSync('/bin/false', builds['0.3.0'])
  mosq = await startMosquitto()
  // Keys and manifests made with the shipped executable's own commands.
  assert.equal((await fg(exe, ['keygen', join(t.dir, 'release')])).code, 0)
  assert.equal((await fg(exe, ['keygen', join(t.dir, 'stranger')])).code, 0)
  for (const v of ['0.2.0', '0.3.0', '0.4.0']) {
    const s = await fg(exe, ['sign', builds[v] ?? '', '--key', join(t.dir, 'release'), '--version', v])
    assert.equal(s.code, 0, s.stderr)
  }
  statusPort = await freePort()
  cfg = join(t.dir, 'etc/fieldgate/fieldgate.toml')
  mkdirSync(join(t.dir, 'etc/fieldgate'), { recursive: true })
  writeFileSync(
    cfg,
    `[gateway]\nid = "ota"\n[storage]\ndata_dir = "${join(t.dir, 'data')}"\n[status]\nhost = "127.0.0.1"\nport = ${statusPort}\n` +
      `[[broker.listeners]]\nhost = "127.0.0.1"\nport = ${await freePort()}\n` +
      `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:${mosq.port}"\nbackoff = { min = "50ms", max = "300ms" }\n` +
      `[update]\npublic_keys = ["${readFileSync(join(t.dir, 'release.pub'), 'utf8').trim()}"]\nhealth_deadline = "5s"\n`,
  )
  Object.assign(env, { XDG_RUNTIME_DIR: t.dir })
  const map = (p: string): string => p.replace('/usr/local/lib/fieldgate/', `${lib}/`).replace('/usr/local/bin/fieldgate', exe).replace('/etc/fieldgate/fieldgate.toml', cfg)
  sup = new Supervisor(UNIT, map, env, t.dir)
  sup.start()
  await waitFor(healthy, 20_000, 50, `/healthz\n${sup.output.join('')}`)
}, { timeout: 240_000 })

after(async () => {
  await sup?.stop()
  await mosq?.stop()
  t?.cleanup()
})

test('refused and nothing changes: a manifest by an untrusted key, a file that is not the signed one, a downgrade', { timeout: 120_000 }, async () => {
  const before = snapshot()
  assert.equal((await fg(exe, ['sign', builds['0.2.0'] ?? '', '--key', join(t.dir, 'stranger'), '--version', '0.2.0', '--out', join(t.dir, 'stranger.json')])).code, 0)
  assert.equal((await fg(exe, ['sign', builds['0.2.0'] ?? '', '--key', join(t.dir, 'release'), '--version', '0.0.1', '--out', join(t.dir, 'old.json')])).code, 0)
  const cases: Array<[string, string, RegExp]> = [
    [builds['0.2.0'] ?? '', join(t.dir, 'stranger.json'), /^fieldgate update: update refused: version 0.2.0: it is signed by key [0-9a-f]{16}, which is not in update.public_keys \([0-9a-f]{16}\)$/],
    // Same size, other bytes: what a corrupted or swapped download looks like.
    [builds['0.4.0'] ?? '', `${builds['0.2.0']}.manifest.json`, /^fieldgate update: update refused: .* does not match the SHA-256 of version 0.2.0 in the manifest; nothing was installed$/],
    [builds['0.2.0'] ?? '', join(t.dir, 'old.json'), /^fieldgate update: update refused: version 0.0.1 is older than the running 0.1.0; a downgrade must be signed with fieldgate sign --downgrade-from VERSION$/],
  ]
  for (const [file, manifest, re] of cases) {
    const r = await fg(exe, ['update', file, '--manifest', manifest, '--config', cfg])
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr.trim(), re)
  }
  assert.deepEqual(snapshot(), before)
  assert.ok(await healthy())
})

test('a signed new version is installed, runs on trial after the restart, passes its health gate (uplink connected) and commits', { timeout: 120_000 }, async () => {
  const old = sha(exe)
  const r = await fg(exe, ['update', builds['0.2.0'] ?? '', '--manifest', `${builds['0.2.0']}.manifest.json`, '--config', cfg])
  assert.equal(r.code, 0, r.stderr)
  assert.match(r.stdout, /version 0.2.0 installed as .*; restart the service/)
  await sup.restart()
  await waitFor(() => /outcome=committed/.test(outcome()), 30_000, 100, `commit\n${sup.output.slice(-20).join('')}`)
  assert.match(outcome(), /version=0.2.0\nprevious_version=0.1.0\n/)
  assert.equal(sha(exe), sha(builds['0.2.0'] ?? ''))
  assert.equal(sha(join(lib, 'fieldgate.previous')), old)
  // The process serving /healthz is the new file.
  assert.equal(statSync(`/proc/${sup.pid}/exe`).ino, statSync(exe).ino)
  assert.ok(await healthy())
  assert.match(sup.runs.at(-1)?.guard ?? '', /version 0.2.0 is on trial/)
})

test('a new version that crashes at start: the next start puts the previous executable back by itself', { timeout: 120_000 }, async () => {
  const good = sha(exe)
  const r = await fg(exe, ['update', builds['0.3.0'] ?? '', '--manifest', `${builds['0.3.0']}.manifest.json`, '--config', cfg])
  assert.equal(r.code, 0, r.stderr)
  const startsBefore = sup.runs.length
  await sup.restart()
  await waitFor(() => /outcome=rolled-back/.test(outcome()) && healthy(), 30_000, 100, `rollback\n${sup.output.slice(-20).join('')}`)
  assert.match(outcome(), /version=0.3.0\nprevious_version=0.1.0\n.*\nreason=it crashed or hung at start/s)
  assert.equal(sha(exe), good)
  const runs = sup.runs.slice(startsBefore)
  assert.equal(runs[0]?.code, 1, 'the broken version ran once and failed')
  assert.match(runs[1]?.guard ?? '', /version 0.3.0 rolled back to 0.1.0/)
})

test('a new version that is not healthy within update.health_deadline stops with 75 and the previous comes back', { timeout: 120_000 }, async () => {
  const good = sha(exe)
  const r = await fg(exe, ['update', builds['0.4.0'] ?? '', '--manifest', `${builds['0.4.0']}.manifest.json`, '--config', cfg])
  assert.equal(r.code, 0, r.stderr)
  // The cloud is gone: the new version's uplink cannot connect within its 5 s.
  const port = mosq.port
  await mosq.stop()
  const startsBefore = sup.runs.length
  await sup.restart()
  await waitFor(() => /outcome=rolled-back\nversion=0.4.0/.test(outcome()), 40_000, 100, `rollback\n${sup.output.slice(-20).join('')}`)
  assert.match(outcome(), /reason=not healthy within 5000 ms: waiting for uplink cloud/)
  assert.equal(sup.runs[startsBefore]?.code, 75)
  assert.equal(sha(exe), good)
  mosq = await startMosquitto({ port })
  await waitFor(healthy, 20_000, 100, '/healthz after the rollback')
})

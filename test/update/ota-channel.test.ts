import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe } from '../../scripts/build-exe.ts'
import { fileChunks, OperatorLink, parseSelector, rolloutUpdate, type GatewayMessage, type Json, type UpdatePayload } from '../../src/fleet/ops/index.ts'
import { parseManifest } from '../../src/update/manifest.ts'
import { Supervisor } from '../exe/supervisor.ts'
import { track } from '../helpers/children.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { fakeElf } from './helpers.ts'

/**
 * Updates over the management channel with the real single executable, run by a supervisor that
 * follows the unit's ExecStartPre / Restart= / exit-status rules (test/exe/supervisor.ts), Mosquitto as
 * the cloud. The "new versions" are the same build with bytes appended (an ELF ignores them; what is
 * checked is which file runs and what the outcome says), and /bin/false as a build that cannot start.
 */
const exec = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const UNIT = join(ROOT, 'hardware/systemd/fieldgate.service')
const sha = (f: string): string => createHash('sha256').update(readFileSync(f)).digest('hex')
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))

let t: { dir: string; cleanup: () => void }
let dist = ''
let lib = ''
let exe = ''
let data = ''
let statusPort = 0
let mosq: MosquittoHandle
let sup: Supervisor
let op: OperatorLink
const builds: Record<string, string> = {}
const events: GatewayMessage[] = []

const fg = (args: string[]) =>
  exec(dist, args, { env, cwd: t.dir, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )
const healthy = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status === 200
const outcome = (): string => (existsSync(join(lib, 'fieldgate.update-result')) ? readFileSync(join(lib, 'fieldgate.update-result'), 'utf8') : '')
const snapshot = (): Record<string, string> => Object.fromEntries(readdirSync(lib).sort().map((f) => [f, sha(join(lib, f))]))
let signed = 0
const sign = async (file: string, version: string, extra: string[] = []): Promise<string> => {
  const out = join(t.dir, `manifest-${++signed}.json`)
  const s = await fg(['sign', file, '--key', join(t.dir, extra.includes('stranger') ? 'stranger' : 'release'), '--version', version, '--out', out, ...extra.filter((x) => x !== 'stranger')])
  assert.equal(s.code, 0, s.stderr)
  return out
}
const online = (): Promise<unknown> => waitFor(() => op.inventory.get('ota')?.online === true && healthy(), 60_000, 100, `the gateway online\n${sup.output.slice(-10).join('')}`)

/** The update as the operator library sends it, with an optional fault in what it reads. */
async function payloadOf(file: string, manifestFile: string, corruptOnce?: number): Promise<UpdatePayload> {
  const text = readFileSync(manifestFile, 'utf8')
  const m = parseManifest(text)
  const chunks = await fileChunks(file, m.chunkSize, m.size)
  let corrupt = corruptOnce
  return {
    manifestText: text,
    version: m.version,
    sha256: m.sha256,
    size: m.size,
    chunkSize: m.chunkSize,
    chunks: m.chunks.length,
    close: chunks.close,
    async read(i) {
      const b = await chunks.read(i)
      if (i === corrupt) {
        corrupt = undefined
        b[100] = (b[100] ?? 0) ^ 0xff
      }
      return b
    },
  }
}

before(async () => {
  const [r] = await buildExe(['x64'])
  dist = r?.exe ?? ''
  t = tempDir('fieldgate-ota-mqtt-')
  lib = join(t.dir, 'usr/local/lib/fieldgate')
  data = join(t.dir, 'data')
  mkdirSync(lib, { recursive: true })
  exe = join(lib, 'fieldgate')
  copyFileSync(dist, exe)
  copyFileSync(join(ROOT, 'hardware/systemd/fieldgate-update-guard'), join(lib, 'fieldgate-update-guard'))
  for (const v of ['0.2.0', '0.4.0']) {
    builds[v] = join(t.dir, `fieldgate-${v}`)
    copyFileSync(dist, builds[v])
    appendFileSync(builds[v], `fieldgate test build ${v}\n`)
  }
  builds['0.3.0'] = join(t.dir, 'fieldgate-0.3.0')
  copyFileSync('/bin/false', builds['0.3.0'])
  builds.arm64 = join(t.dir, 'fieldgate-arm64')
  writeFileSync(builds.arm64, fakeElf('arm64', Buffer.alloc(4096, 7)))
  assert.equal((await fg(['keygen', join(t.dir, 'release')])).code, 0)
  assert.equal((await fg(['keygen', join(t.dir, 'stranger')])).code, 0)
  mosq = await startMosquitto()
  statusPort = await freePort()
  const cfg = join(t.dir, 'etc/fieldgate/fieldgate.toml')
  mkdirSync(join(t.dir, 'etc/fieldgate'), { recursive: true })
  writeFileSync(
    cfg,
    `[gateway]\nid = "ota"\n[log]\nlevel = "info"\n[storage]\ndata_dir = "${data}"\n[status]\nhost = "127.0.0.1"\nport = ${statusPort}\n` +
      `[[broker.listeners]]\nhost = "127.0.0.1"\nport = ${await freePort()}\n` +
      `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:${mosq.port}"\nbackoff = { min = "50ms", max = "300ms" }\n[uplinks.management]\nenabled = true\n` +
      `[update]\npublic_keys = ["${readFileSync(join(t.dir, 'release.pub'), 'utf8').trim()}"]\nhealth_deadline = "20s"\n`,
  )
  Object.assign(env, { XDG_RUNTIME_DIR: t.dir })
  const map = (p: string): string => p.replace('/usr/local/lib/fieldgate/', `${lib}/`).replace('/usr/local/bin/fieldgate', exe).replace('/etc/fieldgate/fieldgate.toml', cfg)
  sup = new Supervisor(UNIT, map, env, t.dir, 20)
  sup.start()
  op = await OperatorLink.connect({ url: `mqtt://127.0.0.1:${mosq.port}` })
  op.onGateway((m) => events.push(m))
  await online()
}, { timeout: 240_000 })

after(async () => {
  await op?.close()
  await sup?.stop()
  await mosq?.stop()
  t?.cleanup()
})

test('refused, reported on the events topic, and nothing changes: a bad signature, another architecture, a downgrade', { timeout: 120_000 }, async () => {
  const before = snapshot()
  const cases: Array<[string, RegExp]> = [
    [await sign(builds['0.2.0'] ?? '', '0.2.0', ['stranger']), /^update refused: version 0\.2\.0: it is signed by key [0-9a-f]{16}, which is not in update\.public_keys/],
    [await sign(builds.arm64 ?? '', '0.2.0'), /^update refused: version 0\.2\.0 is built for arm64, this gateway runs x64; sign the x64 build$/],
    [await sign(builds['0.2.0'] ?? '', '0.0.1'), /^update refused: version 0\.0\.1 is older than the running 0\.1\.0; a downgrade must be signed with fieldgate sign --downgrade-from VERSION$/],
  ]
  // An altered manifest: the signature no longer covers what it says.
  const altered = JSON.parse(readFileSync(await sign(builds['0.2.0'] ?? '', '0.2.0'), 'utf8')) as Json
  altered.version = '0.9.0'
  const alteredFile = join(t.dir, 'altered.json')
  writeFileSync(alteredFile, JSON.stringify(altered))
  cases.push([alteredFile, /^update refused: version 0\.9\.0: its signature does not verify with key [0-9a-f]{16} \(altered manifest or wrong key\)$/])
  for (const [file, re] of cases) {
    const r = await op.request('ota', 'update', { manifest: JSON.parse(readFileSync(file, 'utf8')) as Json }, 30_000)
    assert.equal(r.state, 'refused', JSON.stringify(r))
    assert.match(String(r.reason), re)
    await waitFor(() => events.some((e) => e.body.state === 'refused' && e.body.reason === r.reason), 5000, 20, 'the refusal on the events topic')
  }
  assert.deepEqual(snapshot(), before)
  assert.deepEqual(existsSync(join(data, 'update')) ? readdirSync(join(data, 'update')) : [], [], 'nothing was downloaded')
  assert.ok(await healthy())
})

test('the cloud restarts mid-transfer and a chunk arrives corrupted: the gateway resumes, asks for what it misses, installs, restarts with 75 and commits after its health gate', { timeout: 240_000 }, async (tc) => {
  const running = sup.runs.length - 1
  const payload = await payloadOf(builds['0.2.0'] ?? '', await sign(builds['0.2.0'] ?? '', '0.2.0'), 7)
  const lines: string[] = []
  const rollout = rolloutUpdate(op, payload, { selector: parseSelector('ota'), waves: { canary: 1, factor: 2, maxWave: 10 }, maxFailures: 0, progress: (l) => lines.push(l) }, { install: true, timeoutMs: 180_000 })
  // A third of the way in, the cloud broker goes away for two seconds (its sessions with it).
  await waitFor(() => events.some((e) => e.kind === 'transfer' && Number(e.body.have) >= payload.chunks / 3), 60_000, 5, 'a third of the chunks')
  const port = mosq.port
  await mosq.stop()
  await new Promise((r) => setTimeout(r, 2000))
  mosq = await startMosquitto({ port })
  const out = await rollout
  await payload.close()
  tc.diagnostic(`${payload.size} bytes in ${payload.chunks} chunks; committed ${((out.results[0]?.ms ?? 0) / 1000).toFixed(1)} s after the announce; published ${JSON.stringify(out.stats)}`)
  assert.deepEqual(out.results.map((r) => [r.id, r.outcome, r.state]), [['ota', 'ok', 'committed']], `${lines.join('\n')}\n${sup.output.slice(-20).join('')}`)
  assert.ok(out.stats.wants >= 1 && out.stats.unicast >= 1, `the gateway asked for what it missed: ${JSON.stringify(out.stats)}`)
  const asked = events.filter((e) => e.kind === 'transfer' && e.body.missing !== undefined).map((e) => e.body.reason)
  assert.ok(asked.includes('refused'), `asked again for the refused chunk: ${asked.join(', ')}`)
  // The ask right after the reconnect can go out before this operator has subscribed again on the restarted
  // broker (it failed that way once at load 15): the gateway's own log line says it too.
  const logged = sup.output.join('').split('\n').filter((l) => l.includes('asking for missing chunks')).map((l) => {
    try {
      return String((JSON.parse(l) as { reason?: unknown }).reason)
    } catch {
      return ''
    }
  })
  tc.diagnostic(`asks seen on the transfer topic: ${asked.join(', ')}; in the gateway's log: ${logged.join(', ')}`)
  assert.ok(asked.includes('reconnect') || asked.includes('idle') || logged.includes('reconnect'), `asked for what was lost in the outage: events ${asked.join(', ')}; log ${logged.join(', ')}`)
  assert.ok(events.some((e) => e.body.state === 'chunk_refused' && e.body.index === 7), 'the corrupted chunk was refused and reported')
  assert.equal(sup.runs[running]?.code, 75, 'the gateway stopped with 75 to restart into the new executable')
  assert.match(outcome(), /^outcome=committed\nversion=0\.2\.0\nprevious_version=0\.1\.0\n/)
  assert.equal(sha(exe), sha(builds['0.2.0'] ?? ''))
  assert.equal(statSync(`/proc/${sup.pid}/exe`).ino, statSync(exe).ino)
  await online()
  const inv = op.inventory.get('ota') as { update?: { version?: string; outcome?: string } }
  assert.deepEqual([inv.update?.version, inv.update?.outcome], ['0.2.0', 'committed'])
  assert.deepEqual(readdirSync(join(data, 'update')), [], 'the download is gone once installed')
})

test('fleet update with a version that crashes at start: the guard puts the previous executable back and the rollout reports the roll-back', { timeout: 180_000 }, async () => {
  const good = sha(exe)
  const manifest = await sign(builds['0.3.0'] ?? '', '0.3.0')
  const r = await fg(['fleet', 'update', manifest, builds['0.3.0'] ?? '', '--to', 'ota', '--broker', `mqtt://127.0.0.1:${mosq.port}`, '--timeout', '120s', '--json'])
  assert.equal(r.code, 1, r.stderr)
  const res = (JSON.parse(r.stdout) as { results: Array<{ id: string; outcome: string; state: string; detail: string }> }).results
  assert.deepEqual(res.map((x) => [x.id, x.outcome, x.state]), [['ota', 'failed', 'rolled_back']], r.stderr)
  assert.match(res[0]?.detail ?? '', /it crashed or hung at start/)
  assert.match(outcome(), /^outcome=rolled-back\nversion=0\.3\.0\n/)
  assert.equal(sha(exe), good)
  await online()
})

test('kill -9 mid-transfer: the restarted gateway resumes from its disk and the fleet command feeds it the rest, then it commits', { timeout: 240_000 }, async (tc) => {
  const manifest = await sign(builds['0.4.0'] ?? '', '0.4.0')
  const chunks = parseManifest(readFileSync(manifest, 'utf8')).chunks.length
  const running = sup.runs.length - 1
  const cli = track(spawn(dist, ['fleet', 'update', manifest, builds['0.4.0'] ?? '', '--to', 'ota', '--broker', `mqtt://127.0.0.1:${mosq.port}`, '--json'], { env, cwd: t.dir, stdio: ['ignore', 'pipe', 'pipe'] }))
  let stdout = ''
  let stderr = ''
  cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<number | null>((r) => cli.once('exit', (code) => r(code)))
  await waitFor(() => events.some((e) => e.kind === 'transfer' && Number(e.body.have) >= chunks / 3 && e.body.version === '0.4.0'), 60_000, 5, 'a third of the chunks')
  process.kill(sup.pid ?? 0, 'SIGKILL')
  const code = await exited
  assert.equal(code, 0, `${stderr}\n${stdout}\n${sup.output.slice(-20).join('')}`)
  const res = JSON.parse(stdout) as { results: Array<{ outcome: string; state: string }>; stats: { shared: number; unicast: number } }
  assert.deepEqual(res.results.map((x) => [x.outcome, x.state]), [['ok', 'committed']])
  assert.equal(sup.runs[running]?.signal, 'SIGKILL')
  assert.equal(sup.runs[running + 1]?.code, 75, 'the restarted process resumed, installed and stopped with 75')
  const resumed = sup.output.join('').split('\n').find((l) => l.includes('resuming the download found on disk'))
  const have = Number((JSON.parse(resumed ?? '{}') as { have?: number }).have)
  assert.ok(have > 0 && have < chunks, `it resumed with ${have} of ${chunks} chunks on disk`)
  tc.diagnostic(`resumed with ${have} of ${chunks} chunks; published ${JSON.stringify(res.stats)}`)
  // The stream waited while the gateway was away, and what it had on disk was not sent again.
  assert.ok(res.stats.shared + res.stats.unicast < chunks * 1.15, `chunks published ${res.stats.shared + res.stats.unicast} for ${chunks}`)
  assert.match(outcome(), /^outcome=committed\nversion=0\.4\.0\n/)
  assert.equal(sha(exe), sha(builds['0.4.0'] ?? ''))
  await online()
})

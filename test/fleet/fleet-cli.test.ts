import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { createPrivateKey, randomFillSync, sign } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { track } from '../helpers/children.ts'
import { startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { configSigningBytes } from '../../src/fleet/index.ts'
import { OperatorLink } from '../../src/fleet/ops/index.ts'
import { keyId } from '../../src/update/keys.ts'
import { fakeElf } from '../update/helpers.ts'

/**
 * `fieldgate fleet` against five real gateway processes behind one Mosquitto with passwords and the
 * ACL of docs/fleet.md (each gateway logs in as its own id). One config file serves every gateway:
 * `{{id}}` names it; the LAN port and data directory come from FIELDGATE_* overrides per process.
 */
const ROOT = join(import.meta.dirname, '..', '..')
const TSX = import.meta.resolve('tsx')
const COUNT = 5
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
let dir: string
let cleanup: () => void
let cloud: MosquittoHandle
let connection: string
let key = ''
let operatorKey = ''
const gws: Array<{ id: string; lan: number; dir: string; proc?: GatewayProcess }> = []

function template(o: { level: string; pass: string }): string {
  return `[gateway]
id = "{{id}}"
[log]
level = "${o.level}"
[[broker.listeners]]
host = "127.0.0.1"
port = 1883
[status]
enabled = false
[[uplinks]]
name = "cloud"
url = "mqtt://127.0.0.1:${cloud.port}"
username = "{{id}}"
password_file = "${o.pass}"
backoff = { min = "200ms", max = "1s" }
[uplinks.management]
enabled = true
commit_deadline = "5s"
operator_keys = ["${operatorKey}"]
[update]
public_keys = ["${key}"]
`
}

function cli(args: string[], conn = connection, timeout = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = track(spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'fleet', ...args, '--connection', conn], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), timeout)
    p.once('exit', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr })
    })
  })
}

const json = (s: string): { ok: boolean; stopped: boolean; results: Array<{ id: string; wave: number; outcome: string; state: string; detail: string }>; stats?: { shared: number; unicast: number; bytes: number } } => JSON.parse(s)

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-fleet-cli-'))
  chmodSync(dir, 0o755)
  const pw = join(dir, 'passwd')
  writeFileSync(pw, '')
  for (let i = 0; i < COUNT; i++) execFileSync('mosquitto_passwd', ['-b', pw, `site-${i}`, 'gw-pass'], { timeout: 10_000 })
  execFileSync('mosquitto_passwd', ['-b', pw, 'op', 'op-pass'], { timeout: 10_000 })
  // The ACL of docs/fleet.md, Security.
  const acl = join(dir, 'acl')
  writeFileSync(
    acl,
    [
      'user op',
      'topic readwrite fieldgate/#',
      'topic readwrite ops/replies/#',
      'pattern read fieldgate/%u/mgmt/req/#',
      'pattern read fieldgate/updates/#',
      'pattern readwrite fieldgate/%u/mgmt/inventory',
      'pattern write fieldgate/%u/mgmt/events',
      'pattern write fieldgate/%u/mgmt/transfer',
      'pattern write fieldgate/%u/mgmt/res/#',
      'pattern readwrite fieldgate/%u/status',
      'pattern readwrite fieldgate/%u/probe/#',
      'pattern write ops/replies/#',
      '',
    ].join('\n'),
  )
  chmodSync(pw, 0o644)
  chmodSync(acl, 0o644)
  writeFileSync(join(dir, 'good.pass'), 'gw-pass\n')
  writeFileSync(join(dir, 'op.pass'), 'op-pass\n')
  cloud = await startMosquitto({ extra: ['allow_anonymous false', `password_file ${pw}`, `acl_file ${acl}`] })
  connection = join(dir, 'ops.toml')
  // Every config push is signed with the operator's key, which the gateways list in operator_keys.
  writeFileSync(connection, `url = "mqtt://127.0.0.1:${cloud.port}"\nusername = "op"\npassword_file = "op.pass"\nsign_key = "operator"\n`)
  for (const k of ['release', 'operator']) execFileSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'keygen', join(dir, k)], { timeout: 60_000 })
  key = readFileSync(join(dir, 'release.pub'), 'utf8').trim()
  operatorKey = readFileSync(join(dir, 'operator.pub'), 'utf8').trim()
  for (let i = 0; i < COUNT; i++) {
    const g = { id: `site-${i}`, lan: await freePort(), dir: join(dir, `g${i}`) }
    mkdirSync(g.dir)
    gws.push(g)
  }
  const text = template({ level: 'warn', pass: join(dir, 'good.pass') })
  await Promise.all(
    gws.map(async (g) => {
      const env = { ...cleanEnv(), FIELDGATE_BROKER__LISTENERS__0__PORT: String(g.lan), FIELDGATE_STORAGE__DATA_DIR: join(g.dir, 'data') }
      g.proc = await startGateway(g.dir, text.replaceAll('{{id}}', g.id), { waitPort: g.lan, env, timeout: 90_000 })
    }),
  )
}, { timeout: 240_000 })

after(async () => {
  await Promise.all(gws.map((g) => g.proc?.kill()))
  await cloud?.stop()
  cleanup()
})

test('fleet list shows every gateway from its retained inventory', { timeout: 120_000 }, async () => {
  await waitFor(async () => {
    const r = await cli(['list', '--json'])
    const inv = JSON.parse(r.stdout || '{}') as Record<string, { online?: boolean }>
    return gws.every((g) => inv[g.id]?.online === true)
  }, 90_000, 500, 'five online inventories')
  const r = await cli(['list'])
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[0] ?? '', /^ID\s+STATE\s+VERSION\s+ARCH\s+CONFIG\s+HEALTH/)
  assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2)), gws.map((g) => [g.id, 'online']))
})

test('fleet config rolls a config out in growing waves, canary first, and every gateway commits it', { timeout: 180_000 }, async () => {
  writeFileSync(join(dir, 'info.toml'), template({ level: 'info', pass: join(dir, 'good.pass') }))
  const r = await cli(['config', 'info.toml', '--to', 'site-*', '--json'])
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`)
  const out = json(r.stdout)
  assert.deepEqual(out.results.map((x) => [x.id, x.wave, x.outcome, x.state]), gws.map((g, i) => [g.id, i === 0 ? 1 : i <= 2 ? 2 : 3, 'ok', 'committed']))
  assert.match(r.stderr, /wave 1\/3 \(canary\): site-0\n/)
  assert.match(r.stderr, /wave 3\/3: site-3, site-4\n/)
  // The same again: nothing to do.
  const again = await cli(['config', 'info.toml', '--to', 'all', '--canary', '5'])
  assert.equal(again.code, 0, again.stderr)
  assert.match(again.stdout, /^site-4\s+1\s+unchanged\s+unchanged/m)
})

test('fleet config stops after the wave in which more gateways failed than --max-failures; the rest are not started', { timeout: 180_000 }, async () => {
  // Per-gateway secrets: site-1 and site-2 get a wrong password, so their commit gate fails and they roll back.
  for (const g of gws) writeFileSync(join(dir, `${g.id}.pass`), g.id === 'site-1' || g.id === 'site-2' ? 'wrong\n' : 'gw-pass\n')
  writeFileSync(join(dir, 'per-site.toml'), template({ level: 'warn', pass: join(dir, '{{id}}.pass') }))
  const r = await cli(['config', 'per-site.toml', '--to', 'all', '--max-failures', '1'])
  assert.equal(r.code, 1, r.stdout)
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('site-')).map((l) => l.split(/\s+/).slice(0, 4))
  assert.deepEqual(rows, [
    ['site-0', '1', 'ok', 'committed'],
    ['site-1', '2', 'failed', 'rolled_back'],
    ['site-2', '2', 'failed', 'rolled_back'],
    ['site-3', '3', 'not', 'started'],
    ['site-4', '3', 'not', 'started'],
  ])
  assert.match(r.stdout, /stopped: more than 1 gateway\(s\) failed; later waves were not started/)
  assert.match(r.stdout, /site-1\s+2\s+failed\s+rolled_back\s+\S+\s+not healthy within 5000 ms: management link not back online/)
})

test('a config push without the operator\'s signature, or signed for another gateway, is refused and changes nothing', { timeout: 120_000 }, async () => {
  writeFileSync(join(dir, 'unsigned.toml'), `url = "mqtt://127.0.0.1:${cloud.port}"\nusername = "op"\npassword_file = "op.pass"\n`)
  writeFileSync(join(dir, 'debug.toml'), template({ level: 'debug', pass: join(dir, '{{id}}.pass') }))
  const r = await cli(['config', 'debug.toml', '--to', 'site-0'], join(dir, 'unsigned.toml'))
  assert.equal(r.code, 1, r.stdout)
  assert.match(r.stdout, /^site-0\s+1\s+failed\s+refused\s+\S+\s+this gateway takes only configs signed by an operator key/m)
  // A push signed for site-0, replayed to site-3: the signature names the gateway.
  const op = await OperatorLink.connect({ url: `mqtt://127.0.0.1:${cloud.port}`, username: 'op', passwordFile: join(dir, 'op.pass') })
  try {
    const text = template({ level: 'debug', pass: join(dir, '{{id}}.pass') }).replaceAll('{{id}}', 'site-3')
    const priv = createPrivateKey(readFileSync(join(dir, 'operator'), 'utf8'))
    const expires = new Date(Date.now() + 60_000).toISOString()
    const raw = Buffer.from(operatorKey, 'base64')
    const signature = { key_id: keyId(raw), expires, sig: sign(null, configSigningBytes('site-0', text, expires), priv).toString('base64') }
    const reply = await op.request('site-3', 'config', { config: text, signature }, 30_000)
    assert.equal(reply.state, 'refused')
    assert.match(String(reply.reason), /^the signature does not verify with key [0-9a-f]{16} for gateway site-3 \(signed for another gateway, or the config was altered\)$/)
    // Signed for site-3 it is taken.
    const good = { ...signature, sig: sign(null, configSigningBytes('site-3', text, expires), priv).toString('base64') }
    const ok = await op.request('site-3', 'config', { config: text, signature: good }, 60_000)
    assert.equal(ok.state, 'committed', JSON.stringify(ok))
  } finally {
    await op.close()
  }
})

test('fleet update sends one stream of chunks that every gateway of a wave shares; --stage receives and verifies without installing', { timeout: 180_000 }, async () => {
  const exe = join(dir, 'fake-exe')
  writeFileSync(exe, fakeElf('x64', randomFillSync(Buffer.alloc(2 * 1024 * 1024))))
  execFileSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'sign', exe, '--key', join(dir, 'release'), '--version', '0.2.0', '--chunk-size', '65536'], { timeout: 60_000 })
  const chunks = Math.ceil((2 * 1024 * 1024 + 20) / 65536)
  const r = await cli(['update', `${exe}.manifest.json`, exe, '--to', 'all', '--stage', '--canary', '2', '--json'])
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`)
  const out = json(r.stdout)
  assert.deepEqual(out.results.map((x) => [x.id, x.outcome, x.state]), gws.map((g) => [g.id, 'ok', 'staged']))
  // Two waves (2, then 3): each wave's stream once on the shared topic. A gateway starved of CPU for
  // 5 s is not waited for and asks for what it missed on its own (0 in every run so far).
  assert.equal(out.stats?.shared, 2 * chunks, r.stderr)
  assert.ok((out.stats?.unicast ?? 0) <= chunks / 4, `${JSON.stringify(out.stats)}\n${r.stderr}`)
  // Installing is refused up front where the executable has no rollback guard beside it (here: node itself).
  const inst = await cli(['update', `${exe}.manifest.json`, exe, '--to', 'all'])
  assert.equal(inst.code, 1)
  assert.match(inst.stdout, /^site-0\s+1\s+failed\s+refused\s+\S+\s+update refused: the rollback guard .* is missing/m)
  assert.match(inst.stdout, /^site-4\s+3\s+not started/m)
})

test('a usage mistake or a refused login is one line, never a stack trace', { timeout: 60_000 }, async () => {
  const noTo = await cli(['config', 'info.toml'])
  assert.equal(noTo.code, 2)
  assert.equal(noTo.stderr.trim().split('\n').length, 1)
  assert.match(noTo.stderr, /^fieldgate fleet: config needs --to SELECTOR/)
  writeFileSync(join(dir, 'bad-op.toml'), `url = "mqtt://127.0.0.1:${cloud.port}"\nusername = "op"\npassword_file = "good.pass"\n`)
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = track(spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'fleet', 'list', '--connection', join(dir, 'bad-op.toml')], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }))
    let stderr = ''
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    p.once('exit', (code) => resolve({ code, stderr }))
  })
  assert.equal(r.code, 1)
  assert.match(r.stderr, /^fieldgate fleet: cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: .*(Not authorized|Bad username)/i)
  assert.equal(r.stderr.trim().split('\n').length, 1)
})

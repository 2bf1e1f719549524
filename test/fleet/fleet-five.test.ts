import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { configHash } from '../../src/fleet/store.ts'
import { managedGatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { Operator } from './operator.ts'

/** Five gateway processes under one Mosquitto: one push to all at once, two of them with a wrong uplink password. */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
const COUNT = 5
let dir: string
let cleanup: () => void
let cloud: MosquittoHandle
let op: Operator
const gws: Array<{ id: string; dir: string; lan: number; text: string; proc?: GatewayProcess }> = []

function toml(g: { id: string; dir: string; lan: number }, o: { password?: string; level?: 'info' | 'warn' } = {}): string {
  return managedGatewayToml({
    id: g.id,
    port: g.lan,
    dataDir: join(g.dir, 'data'),
    logLevel: o.level ?? 'warn',
    cloudUrl: `mqtt://127.0.0.1:${cloud.port}`,
    username: 'gw',
    ...(o.password === undefined ? { passwordFile: join(dir, 'gw.pass') } : { password: o.password }),
    commitDeadline: '5s',
  })
}

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-fleet5-'))
  const pw = join(dir, 'passwd')
  writeFileSync(pw, '')
  execFileSync('mosquitto_passwd', ['-b', pw, 'gw', 'gw-pass'], { timeout: 10_000 })
  execFileSync('mosquitto_passwd', ['-b', pw, 'op', 'op-pass'], { timeout: 10_000 })
  chmodSync(dir, 0o755)
  chmodSync(pw, 0o644)
  writeFileSync(join(dir, 'gw.pass'), 'gw-pass\n')
  cloud = await startMosquitto({ extra: ['allow_anonymous false', `password_file ${pw}`] })
  op = await Operator.connect(cloud.port, 5, { username: 'op', password: 'op-pass' })
  for (let i = 0; i < COUNT; i++) {
    const g = { id: `site-${i}`, dir: join(dir, `g${i}`), lan: await freePort(), text: '' }
    mkdirSync(g.dir)
    g.text = toml(g)
    gws.push(g)
  }
  await Promise.all(gws.map(async (g) => (g.proc = await startGateway(g.dir, g.text, { waitPort: g.lan, env: cleanEnv(), timeout: 60_000 }))))
})

after(async () => {
  await Promise.all(gws.map((g) => g.proc?.kill()))
  await op?.close()
  await cloud?.stop()
  cleanup()
})

test('one subscription sees the fleet; a push to all commits where the config works and rolls back where it does not', async (t) => {
  await waitFor(() => gws.every((g) => (op.inventory.get(g.id) as { online?: boolean } | undefined)?.online === true), 60_000, 50, 'five inventories')
  const broken = new Set([1, 3])
  const pushed = gws.map((g, i) => toml(g, broken.has(i) ? { password: 'wrong', level: 'info' } : { level: 'info' }))
  const started = Date.now()
  const replies = await Promise.all(gws.map((g, i) => op.request(g.id, 'config', { config: pushed[i] as string }, 60_000)))
  t.diagnostic(`five pushes answered in ${Date.now() - started} ms; took_ms: ${replies.map((r) => r.took_ms).join(', ')}`)
  for (const [i, r] of replies.entries()) {
    const g = gws[i] as (typeof gws)[number]
    if (broken.has(i)) {
      assert.equal(r.state, 'rolled_back', `${g.id}: ${JSON.stringify(r)}`)
      assert.match(String(r.reason), /management link not back online/)
    } else assert.equal(r.state, 'committed', `${g.id}: ${JSON.stringify(r)}`)
  }
  // Every gateway answers again, on the config it should run.
  const after = await Promise.all(gws.map((g) => op.request(g.id, 'inventory', {}, 60_000)))
  for (const [i, r] of after.entries()) {
    const g = gws[i] as (typeof gws)[number]
    const hash = (r.inventory as { config: { hash: string } }).config.hash
    assert.equal(hash, configHash(broken.has(i) ? g.text : (pushed[i] as string)), g.id)
  }
})

import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { configHash } from '../../src/fleet/store.ts'
import { managedGatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { PowerCutDisk } from '../helpers/power-cut.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { Operator } from './operator.ts'

/**
 * A power cut (not just kill -9: the page cache is lost too) right after a config was reported
 * committed keeps it; one during the commit window keeps the previous config and says so.
 */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
let dir: string
let cleanup: () => void
let disk: PowerCutDisk
let cloud: MosquittoHandle
let op: Operator
let gw: GatewayProcess | undefined
let lan: number
const ID = 'cut-a'

function toml(o: { port?: number; level?: 'debug' | 'info' | 'warn' } = {}): string {
  return managedGatewayToml({
    id: ID,
    port: lan,
    dataDir: join(disk.mountPoint, 'data'),
    logLevel: o.level ?? 'warn',
    cloudUrl: `mqtt://127.0.0.1:${o.port ?? cloud.port}`,
    commitDeadline: '60s',
  })
}

const inv = (): { online?: boolean; config?: { hash: string; source: string } } => (op.inventory.get(ID) ?? {}) as { online?: boolean; config?: { hash: string; source: string } }

async function powerCut(): Promise<void> {
  const dying = gw as GatewayProcess
  dying.proc.kill('SIGSTOP')
  await disk.cut(() => dying.kill('SIGKILL'))
  await waitFor(() => inv().online === false, 60_000, 50, 'Last Will')
}

async function boot(file: string): Promise<void> {
  gw = await startGateway(dir, file, { waitPort: lan, env: cleanEnv(), timeout: 60_000 })
  await waitFor(() => inv().online === true, 60_000, 50, 'inventory online')
}

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-fleet-cut-'))
  disk = PowerCutDisk.create(dir)
  lan = await freePort()
  cloud = await startMosquitto()
  op = await Operator.connect(cloud.port, 5, { username: 'op', password: 'x' })
})

after(async () => {
  await gw?.kill()
  await op?.close()
  await cloud?.stop()
  disk?.close()
  cleanup()
})

test('a config reported committed survives a power cut right after the reply', async () => {
  const file = toml()
  await boot(file)
  const next = toml({ level: 'info' })
  const r = await op.request(ID, 'config', { config: next })
  assert.equal(r.state, 'committed', JSON.stringify(r))
  await powerCut()
  await boot(file)
  assert.deepEqual(inv().config && { hash: inv().config?.hash, source: inv().config?.source }, { hash: configHash(next), source: 'remote' })
})

test('a power cut in the commit window leaves the previous config, and the restart reports the roll-back', async () => {
  const file = toml()
  const previous = inv().config?.hash
  const typo = toml({ port: await freePort(), level: 'debug' })
  op.send(ID, 'config', { config: typo })
  await waitFor(() => op.events.some((e) => e.state === 'applying' && e.hash === configHash(typo)), 60_000, 20, 'applying event')
  await powerCut()
  await boot(file)
  assert.equal(inv().config?.hash, previous)
  const ev = await waitFor(() => op.events.find((e) => e.after === 'restart' && e.hash === configHash(typo)), 30_000, 50, 'restart report')
  assert.equal(ev.state, 'rolled_back')
})

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { connectAsync, type MqttClient } from 'mqtt'
import { configHash } from '../../src/fleet/store.ts'
import { track } from '../helpers/children.ts'
import { startCluster, type Cluster } from '../helpers/cluster.ts'
import { managedGatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { Operator, rollout, type Json } from './operator.ts'

/**
 * The cloud as users run it in production: a cluster, here two Aedes nodes sharing Debian's redis-server
 * (mqemitter-redis, aedes-persistence-redis). Every gateway's uplink lists node A, then node B (failover).
 * Aedes speaks MQTT 3.1.1 only, so the uplinks and the operator do too (JSON request bodies).
 */
const ROOT = join(import.meta.dirname, '..', '..')
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
const COUNT = 3
const users = { gw: 'gw-pass', op: 'op-pass' }
const opAuth = { username: 'op', password: 'op-pass' }
let dir: string
let cleanup: () => void
let cluster: Cluster
const operators: Operator[] = []
const clients: MqttClient[] = []

interface Gw {
  id: string
  dir: string
  lan: number
  text: string
  proc?: GatewayProcess
}
const gws: Gw[] = []

/** Node A's and node B's ports at the time the config is written: a restarted node keeps its port. */
function toml(g: Gw, o: { inventoryInterval?: string } = {}): string {
  const [a, b] = cluster.nodes.map((n) => n.port)
  return managedGatewayToml({
    id: g.id,
    port: g.lan,
    dataDir: join(g.dir, 'data'),
    logLevel: 'info',
    cloudUrl: `mqtt://127.0.0.1:${a}`,
    servers: [`mqtt://127.0.0.1:${b}`],
    protocolVersion: 4,
    username: 'gw',
    passwordFile: join(dir, 'gw.pass'),
    uplink: 'connect_timeout = "3s"',
    commitDeadline: '20s',
    management: `inventory_interval = "${o.inventoryInterval ?? '60s'}"`,
    after: '[[uplinks.forward]]\nfilter = "data/#"\nremote = "sites/{gateway}/{topic}"\nqos = 1',
  })
}

const gatewayEnv = (g: Gw): NodeJS.ProcessEnv => ({ ...cleanEnv(), FIELDGATE_BROKER__LISTENERS__0__PORT: String(g.lan), FIELDGATE_STORAGE__DATA_DIR: join(g.dir, 'data') })

async function operator(port: number): Promise<Operator> {
  const op = await Operator.connect(port, 4, opAuth)
  op.client.on('error', () => undefined)
  operators.push(op)
  return op
}

const online = (op: Operator, g: Gw): boolean => (op.inventory.get(g.id) as { online?: boolean } | undefined)?.online === true

/** The uplink's current server from the gateway's /status JSON, asked over the management channel. */
async function uplinkServer(op: Operator, g: Gw): Promise<string> {
  const r = await op.request(g.id, 'status', {}, 15_000)
  const server = findUplink(r.status)?.server
  assert.equal(typeof server, 'string', `no uplink "cloud" in ${g.id}'s status: ${JSON.stringify(r).slice(0, 2000)}`)
  return server as string
}

function findUplink(v: unknown, depth = 0): Json | undefined {
  if (depth > 8 || v === null || typeof v !== 'object') return undefined
  const o = v as Json
  if (o.name === 'cloud' && typeof o.server === 'string') return o
  for (const x of Object.values(o)) {
    const found = findUplink(x, depth + 1)
    if (found) return found
  }
  return undefined
}

/** On a failure: what each gateway and node said last, so a failure on a loaded machine can be read. */
async function explained(body: () => Promise<void>): Promise<void> {
  try {
    await body()
  } catch (err) {
    const tail = (lines: string[]): string => lines.join('').split('\n').slice(-15).join('\n')
    const logs = [...gws.map((g) => `--- ${g.id}\n${tail(g.proc?.log ?? [])}`), ...cluster.nodes.map((n, i) => `--- node ${'AB'[i]}\n${tail(n.log)}`)]
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs.join('\n')}`, { cause: err })
  }
}

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-cluster-'))
  writeFileSync(join(dir, 'gw.pass'), `${users.gw}\n`)
  // A dead node's wills go out after 3–4 heartbeats: 1 s here, 60 s in Aedes's defaults.
  cluster = await startCluster({ users, heartbeatMs: 1000 })
  for (let i = 0; i < COUNT; i++) {
    const g: Gw = { id: `site-${i}`, dir: join(dir, `g${i}`), lan: await freePort(), text: '' }
    mkdirSync(g.dir)
    g.text = toml(g)
    gws.push(g)
  }
  // The LAN port and data directory also as overrides, so one config file with {{id}} serves every gateway (the fleet command's test).
  await Promise.all(gws.map(async (g) => (g.proc = await startGateway(g.dir, g.text, { waitPort: g.lan, env: gatewayEnv(g), timeout: 60_000 }))))
})

after(async () => {
  for (const c of clients) c.end(true)
  await Promise.all(operators.map((o) => o.client.endAsync(true).catch(() => undefined)))
  await Promise.all(gws.map((g) => g.proc?.kill()))
  await cluster?.stop()
  cleanup()
})

test('an operator on node B sees the inventories of gateways connected to node A', async () => {
  const [a, b] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]]
  const op = await operator(b.port)
  await waitFor(() => gws.every((g) => online(op, g)), 60_000, 50, 'every inventory online, seen from node B')
  for (const g of gws) {
    assert.equal((op.inventory.get(g.id) as { config: { hash: string } }).config.hash, configHash(g.text))
    assert.equal(await uplinkServer(op, g), `mqtt://127.0.0.1:${a.port}`, `${g.id} starts on node A`)
  }
})

/** A LAN client of one gateway publishing QoS 1 readings one after another; only PUBACKed ones count. */
class Publisher {
  readonly acked: number[] = []
  failed = 0
  private running = true
  private done: Promise<void>

  constructor(readonly client: MqttClient, readonly max: number) {
    this.done = this.loop()
  }

  private async loop(): Promise<void> {
    for (let seq = 0; seq < this.max && this.running; seq++) {
      try {
        await this.client.publishAsync('data/seq', String(seq), { qos: 1 })
        this.acked.push(seq)
      } catch {
        this.failed++
      }
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  async stop(): Promise<void> {
    this.running = false
    await this.done
  }
}

test('node A killed with SIGKILL: the gateways fail over to node B, no acknowledged QoS 1 message is lost, the retained inventory stays online, and a config pushed through node B commits', async (t) => {
  await explained(async () => {
    const [a, b] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]]
    const op = await operator(b.port)
    await waitFor(() => gws.every((g) => online(op, g)), 30_000, 50, 'every inventory online')
    // The consumer on node B: every reading, and the uplinks' retained status topics.
    const consumer = await connectAsync(`mqtt://127.0.0.1:${b.port}`, { protocolVersion: 4, reconnectPeriod: 0, ...opAuth })
    consumer.on('error', () => undefined)
    clients.push(consumer)
    const received = new Map<string, number[]>(gws.map((g) => [g.id, []]))
    const status = new Map<string, string>()
    let sentinel = false
    consumer.on('message', (topic, payload) => {
      const p = topic.split('/')
      if (p[0] === 'sites') received.get(p[1] as string)?.push(Number(payload.toString()))
      else if (p[2] === 'status') status.set(p[1] as string, payload.toString())
      else if (topic === 'test/sentinel') sentinel = true
    })
    await consumer.subscribeAsync({ 'sites/+/data/#': { qos: 1 }, 'fieldgate/+/status': { qos: 1 }, 'test/sentinel': { qos: 1 } })
    // A client of our own on node A whose Will tells when node B has published node A's wills.
    const holder = await connectAsync(`mqtt://127.0.0.1:${a.port}`, { protocolVersion: 4, reconnectPeriod: 0, ...opAuth, will: { topic: 'test/sentinel', payload: Buffer.from('A is gone'), qos: 1, retain: false } })
    holder.on('error', () => undefined)
    clients.push(holder)

    const lan = await Promise.all(gws.map((g) => connectAsync(`mqtt://127.0.0.1:${g.lan}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: `lan-${g.id}` })))
    clients.push(...lan)
    const pubs = lan.map((c) => new Publisher(c, 3000))
    const count = (id: string): number => received.get(id)?.length ?? 0
    await waitFor(() => gws.every((g) => count(g.id) >= 20), 30_000, 20, 'readings through node A')

    const ackedBefore = pubs.map((p) => p.acked.length)
    const killedAt = Date.now()
    await a.stop('SIGKILL')
    // Through node B now: every gateway's uplink names it, and readings sent after the kill arrive.
    await waitFor(() => gws.every((g, i) => (received.get(g.id) ?? []).some((s) => s > (ackedBefore[i] as number) + 20)), 30_000, 50, 'readings through node B')
    const failoverMs = Date.now() - killedAt
    for (const g of gws) assert.equal(await uplinkServer(op, g), `mqtt://127.0.0.1:${b.port}`, `${g.id} on node B`)
    await Promise.all(pubs.map((p) => p.stop()))
    for (const [i, g] of gws.entries()) {
      const acked = (pubs[i] as Publisher).acked
      await waitFor(() => new Set(received.get(g.id)).size >= acked.length, 30_000, 50, `${g.id}: all ${acked.length} acknowledged readings`).catch(() => undefined)
      const got = new Set(received.get(g.id))
      const lost = acked.filter((s) => !got.has(s))
      t.diagnostic(`${g.id}: ${acked.length} acknowledged on the LAN, ${got.size} distinct at the consumer, ${(received.get(g.id)?.length ?? 0) - got.size} duplicates, ${(pubs[i] as Publisher).failed} LAN publishes failed`)
      assert.deepEqual(lost, [], `${g.id} lost acknowledged readings`)
    }
    t.diagnostic(`readings through node B ${failoverMs} ms after the kill`)

    // Node B publishes node A's wills once A's heartbeats have been missing 3-4 beats: late, after the
    // gateways reconnected. Their inventories and status topics must still say online.
    await waitFor(() => sentinel, 30_000, 50, 'node A\'s wills published by node B')
    t.diagnostic(`node A's wills published ${Date.now() - killedAt} ms after the kill`)
    const late = await operator(b.port)
    const lateStatus = new Map<string, string>()
    late.client.on('message', (topic, payload) => topic.endsWith('/status') && lateStatus.set(topic.split('/')[1] as string, payload.toString()))
    await late.client.subscribeAsync('fieldgate/+/status', { qos: 1 })
    await waitFor(() => gws.every((g) => online(late, g) && lateStatus.get(g.id) === 'online'), 15_000, 50, 'retained inventories and status online after the wills').catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(gws.map((g) => [g.id, (late.inventory.get(g.id) as Json | undefined)?.online, lateStatus.get(g.id)]))}`)
    })
    const said = (g: Gw, what: string): number => (g.proc?.log.join('') ?? '').split(what).length - 1
    t.diagnostic(`late wills answered: inventory ${gws.map((g) => said(g, 'inventory published again')).join('/')}, uplink status ${gws.map((g) => said(g, 'birth published again')).join('/')} (per gateway)`)

    const g0 = gws[0] as Gw
    const pushed = toml(g0, { inventoryInterval: '30s' })
    const r = await op.request(g0.id, 'config', { config: pushed }, 40_000)
    assert.equal(r.state, 'committed', JSON.stringify(r))
    g0.text = pushed
    await waitFor(() => (op.inventory.get(g0.id) as { config?: { hash?: string } } | undefined)?.config?.hash === configHash(pushed), 10_000, 50, 'the new config hash in the inventory')
  })
})

test('node A back, node B stopped mid-way through a config rollout: the rollout goes on through node A and every gateway commits', async (t) => {
  await explained(async () => {
    const a = await cluster.restart(0)
    const b = cluster.nodes[1] as Cluster['nodes'][number]
    const op = await operator(a.port)
    await waitFor(() => gws.every((g) => online(op, g)), 30_000, 50, 'every inventory, seen from node A')
    const next = gws.map((g) => ({ id: g.id, config: toml(g, { inventoryInterval: '45s' }) }))
    let stoppedAt = 0
    const started = Date.now()
    const steps = await rollout(op, next, {
      attempts: 6,
      timeout: 8000,
      // The second gateway's request is on its way through node B when B stops.
      sent: async (i) => {
        if (i !== 1) return
        stoppedAt = Date.now()
        await b.stop('SIGTERM')
      },
    })
    t.diagnostic(`rollout ${Date.now() - started} ms, node B stopped ${stoppedAt - started} ms in: ${steps.map((s) => `${s.id} ${s.state} after ${s.attempts} request(s)`).join('; ')}`)
    assert.deepEqual(steps.map((s) => s.id), gws.map((g) => g.id), JSON.stringify(steps))
    for (const s of steps) assert.ok(s.state === 'committed' || s.state === 'unchanged', JSON.stringify(s))
    assert.ok(stoppedAt > 0)
    for (const [i, g] of gws.entries()) {
      g.text = next[i]?.config as string
      const r = await op.request(g.id, 'inventory', {}, 15_000)
      assert.equal((r.inventory as { config: { hash: string } }).config.hash, configHash(g.text), `${g.id} runs the rolled-out config`)
      assert.equal(await uplinkServer(op, g), `mqtt://127.0.0.1:${a.port}`, `${g.id} on node A`)
    }
    // Readings still reach the cloud, now through node A.
    const consumer = await connectAsync(`mqtt://127.0.0.1:${a.port}`, { protocolVersion: 4, reconnectPeriod: 0, ...opAuth })
    consumer.on('error', () => undefined)
    clients.push(consumer)
    const got = new Set<string>()
    consumer.on('message', (topic, payload) => got.add(`${topic.split('/')[1]}:${payload.toString()}`))
    await consumer.subscribeAsync('sites/+/data/#', { qos: 1 })
    for (const g of gws) {
      const c = await connectAsync(`mqtt://127.0.0.1:${g.lan}`, { protocolVersion: 5, reconnectPeriod: 0 })
      clients.push(c)
      await c.publishAsync('data/after', 'rolled', { qos: 1 })
    }
    await waitFor(() => gws.every((g) => got.has(`${g.id}:rolled`)), 15_000, 20, 'a reading from every gateway through node A')
  })
})

test('fieldgate fleet rolls a config out through the cluster while the gateways\' node stops between its waves: what got no answer is sent again, and every gateway commits', async (t) => {
  await explained(async () => {
    const b = await cluster.restart(1)
    const a = cluster.nodes[0] as Cluster['nodes'][number]
    const op = await operator(b.port)
    await waitFor(() => gws.every((g) => online(op, g)), 30_000, 50, 'every inventory, seen from node B')
    // One file for all: {{id}} names the gateway, the LAN port and data directory come from the overrides.
    const file = join(dir, 'fleet.toml')
    const text = toml({ id: '{{id}}', dir: join(dir, 'unused'), lan: 1883, text: '' }, { inventoryInterval: '40s' })
    writeFileSync(file, text)
    writeFileSync(join(dir, 'op.pass'), `${users.op}\n`)
    const args = ['fleet', 'config', file, '--to', 'site-*', '--broker', `mqtt://127.0.0.1:${b.port}`, '--protocol', '4', '--username', 'op', '--password-file', join(dir, 'op.pass'), '--timeout', '60s', '--json']
    const cli = track(spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli.ts'), ...args], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    cli.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    cli.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)))
    // Waves 1 and 2 (canary, then the other two). The canary done, node A, which carries the gateways,
    // is frozen, so the second wave's requests routed to it are never delivered, then killed.
    await waitFor(() => /wave 1 done/.test(stderr), 60_000, 5, `the canary wave\n${stderr}`)
    a.proc.kill('SIGSTOP')
    await waitFor(() => /wave 2\/2/.test(stderr), 10_000, 5, 'the second wave')
    await new Promise((r) => setTimeout(r, 500))
    await a.stop('SIGKILL')
    const code = await exited
    t.diagnostic(stderr.trim().split('\n').join(' | '))
    assert.equal(code, 0, `${stderr}\n${stdout}`)
    const out = JSON.parse(stdout) as { results: Array<{ id: string; outcome: string; state: string }> }
    assert.deepEqual(out.results.map((r) => r.id).sort(), gws.map((g) => g.id))
    for (const r of out.results) assert.ok(r.outcome === 'ok' || r.outcome === 'unchanged', JSON.stringify(r))
    for (const g of gws) {
      g.text = text.replaceAll('{{id}}', g.id)
      await waitFor(() => (op.inventory.get(g.id) as { config?: { hash?: string } } | undefined)?.config?.hash === configHash(g.text), 15_000, 50, `${g.id} on the rolled-out config`)
    }
  })
})

/**
 * A fleet of real gateway processes (20 by default) behind one Mosquitto, managed by an MQTT.js
 * operator (test/fleet/operator.ts): the time and the bytes to roll out a config to all of them, pushed
 * to all at once and in waves (1, then 4, then the rest), and the gateways' memory. Bytes are
 * Mosquitto's own counters ($SYS/broker/bytes/received and /sent, every second), so they include
 * everything the broker saw meanwhile: requests, events, replies, the management links' and uplinks'
 * reconnects, inventories, keep-alives and probes. The idle rate, measured before, is printed beside.
 *
 * Each round pushes three configs (all at once, waves, one at a time); the first round also pays each
 * process's first reload (cold code).
 *
 * The update half (--part update, bench/lib/fleet-update.ts) runs the executable under the unit supervisor.
 *
 *   node --import tsx bench/fleet.ts [--gateways 20] [--runner exe|tsx] [--exe <path>] [--waves 1,4,15] [--rounds 2] [--part config|update|all] [--mb 40]
 */
import { mkdirSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { connectAsync, type MqttClient } from 'mqtt'
import { configHash } from '../src/fleet/store.ts'
import { Operator, rollout } from '../test/fleet/operator.ts'
import { managedGatewayToml, startGateway, type GatewayProcess } from '../test/helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../test/helpers/mosquitto.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir, waitFor } from '../test/helpers/tmp.ts'
import { updateBench } from './lib/fleet-update.ts'
import { rssKb } from './lib/proc.ts'
import { fieldgateExe, mosquittoVersion } from './lib/runtime.ts'

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '20' },
    runner: { type: 'string', default: 'exe' },
    exe: { type: 'string' },
    waves: { type: 'string', default: '1,4,15' },
    rounds: { type: 'string', default: '2' },
    part: { type: 'string', default: 'all' },
    mb: { type: 'string', default: '40' },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  process.stdout.write('usage: node --import tsx bench/fleet.ts [--gateways 20] [--runner exe|tsx] [--exe <path>] [--waves 1,4,15] [--rounds 2] [--part config|update|all] [--mb 40]\n')
  process.exit(0)
}
const COUNT = Number(values.gateways)
const waves = values.waves.split(',').map(Number)
const ROUNDS = Number(values.rounds)
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 10) throw new Error('--rounds: 1 to 10')
if (!Number.isInteger(COUNT) || COUNT < 1 || COUNT > 100) throw new Error('--gateways: 1 to 100')
if (waves.some((w) => !Number.isInteger(w) || w < 1)) throw new Error('--waves: sizes such as 1,4,15')
if (values.runner !== 'exe' && values.runner !== 'tsx') throw new Error('--runner: exe or tsx')
if (!['config', 'update', 'all'].includes(values.part)) throw new Error('--part: config, update or all')
if (!(Number(values.mb) >= 1 && Number(values.mb) <= 200)) throw new Error('--mb: 1 to 200')

const repoRoot = resolve(import.meta.dirname, '..')
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
const { dir: tempRoot, cleanup } = tempDir('fieldgate-bench-fleet-')
const dir = join(tempRoot, 'config')
mkdirSync(dir)
const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`

interface Gw {
  id: string
  dir: string
  lan: number
  proc?: GatewayProcess
}

/** One gateway's config; `version` changes a forward rule's remote prefix, so a push reloads the uplink too. */
function toml(g: Gw, cloud: number, version: number): string {
  return managedGatewayToml({
    id: g.id,
    port: g.lan,
    dataDir: join(g.dir, 'data'),
    cloudUrl: `mqtt://127.0.0.1:${cloud}`,
    backoffMax: '2s',
    commitDeadline: '60s',
    after: `[[uplinks.forward]]\nfilter = "sensors/#"\nremote = "v${version}/{gateway}/{topic}"\nqos = 1`,
  })
}

/** Mosquitto's byte counters, as it publishes them on $SYS every second. */
class BrokerBytes {
  received = 0
  sent = 0
  updates = 0
  private constructor(private readonly client: MqttClient) {}

  static async watch(port: number): Promise<BrokerBytes> {
    const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 })
    const b = new BrokerBytes(client)
    client.on('message', (topic, payload) => {
      if (topic.endsWith('/received')) b.received = Number(payload.toString())
      else {
        b.sent = Number(payload.toString())
        b.updates++
      }
    })
    await client.subscribeAsync(['$SYS/broker/bytes/received', '$SYS/broker/bytes/sent'], { qos: 0 })
    return b
  }

  /** The counters after the broker's next update (at most ~1 s old). */
  async next(): Promise<{ received: number; sent: number; at: number }> {
    const seen = this.updates
    await waitFor(() => this.updates > seen + 1, 5000, 20, '$SYS byte counters')
    return { received: this.received, sent: this.sent, at: Date.now() }
  }

  close(): Promise<void> {
    return this.client.endAsync()
  }
}

interface PhaseResult {
  phase: string
  /** Inventory and event messages the operator received meanwhile. */
  seen: { inventory: number; events: number }
  ms: number
  bytes: number
  idleBytes: number
  tookMs: number[]
  states: Record<string, number>
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

async function main(): Promise<void> {
  const exe = values.runner === 'exe' || values.part !== 'config' ? await fieldgateExe(repoRoot, values.exe ?? null) : undefined
  try {
    if (values.part !== 'update') await configPart(values.runner === 'exe' ? exe : undefined)
    if (values.part !== 'config') await updatePart(exe as string)
  } finally {
    cleanup()
  }
}

/** The update half (bench/lib/fleet-update.ts), on a Mosquitto of its own. */
async function updatePart(exe: string): Promise<void> {
  const mq = await startMosquitto({ extra: ['sys_interval 1'] })
  const bytes = await BrokerBytes.watch(mq.port)
  const dir = join(tempRoot, 'update')
  mkdirSync(dir)
  try {
    const r = await updateBench({ repoRoot, dist: exe, dir, count: COUNT, brokerPort: mq.port, mb: Number(values.mb), log: (l) => process.stdout.write(`${l}\n`), brokerBytes: async () => { const s = await bytes.next(); return s.received + s.sent } })
    const load = loadavg().map((l) => l.toFixed(2)).join(' ')
    const mbOf = (xs: number[]): string => `${(median(xs) / 1024).toFixed(1)} MB median, ${(Math.max(...xs) / 1024).toFixed(1)} MB max`
    const st = r.staged
    process.stdout.write(`\n${new Date().toISOString()}  load ${load}  gateways: executable ${exe} under the unit supervisor, ${mosquittoVersion()}\n`)
    process.stdout.write(`update of ${st.mb} MB to ${COUNT} gateways in one wave, staged (received, written, verified): ${(st.ms / 1000).toFixed(1)} s; ${Object.entries(st.outcomes).map(([k, n]) => `${n} ${k}`).join(', ')}\n`)
    process.stdout.write(`  through the broker: ${(st.brokerBytes / 1e6).toFixed(1)} MB (${(st.brokerBytes / 1e6 / st.mb).toFixed(1)}x the update); published by the operator: ${JSON.stringify(st.published)}\n`)
    process.stdout.write(`  gateway RSS: ${mbOf(st.rssIdleKb)} before; peak during the transfer ${mbOf(st.rssPeakKb)}; largest rise ${(Math.max(...st.rssPeakKb.map((p, i) => p - (st.rssIdleKb[i] ?? p))) / 1024).toFixed(1)} MB\n`)
    const rb = r.rollback
    process.stdout.write(`update that cannot start (/bin/false), installed on all ${COUNT}: every roll-back reported in ${(rb.ms / 1000).toFixed(1)} s (per gateway median ${(median(rb.perGatewayMs) / 1000).toFixed(1)} s, max ${(Math.max(...rb.perGatewayMs) / 1000).toFixed(1)} s); all back online on the previous executable after ${(rb.backOnlineMs / 1000).toFixed(1)} s; ${Object.entries(rb.outcomes).map(([k, n]) => `${n} ${k}`).join(', ')}\n`)
    process.stdout.write(`BENCH_JSON ${JSON.stringify({ bench: 'fleet-update', gateways: COUNT, load: loadavg(), ...r })}\n`)
  } finally {
    await bytes.close()
    await mq.stop()
  }
}

async function configPart(exe: string | undefined): Promise<void> {
  const mq: MosquittoHandle = await startMosquitto({ extra: ['sys_interval 1'] })
  const gws: Gw[] = []
  let op: Operator | null = null
  let bytes: BrokerBytes | null = null
  try {
    for (let i = 0; i < COUNT; i++) {
      const g: Gw = { id: `bench-${String(i).padStart(2, '0')}`, dir: join(dir, `g${i}`), lan: await freePort() }
      mkdirSync(g.dir)
      gws.push(g)
    }
    op = await Operator.connect(mq.port, 5)
    const started = Date.now()
    // A few at a time: 20 cold starts at once on 2 cores would time each other out.
    for (let i = 0; i < gws.length; i += 4) {
      await Promise.all(gws.slice(i, i + 4).map(async (g) => (g.proc = await startGateway(g.dir, toml(g, mq.port, 1), { waitPort: g.lan, env: cleanEnv(), timeout: 120_000, ...(exe === undefined ? {} : { exe }) }))))
    }
    const o = op
    await waitFor(() => gws.every((g) => (o.inventory.get(g.id) as { online?: boolean; health?: { overall?: string } } | undefined)?.health?.overall === 'ok'), 120_000, 100, 'every gateway online and healthy')
    process.stdout.write(`${COUNT} gateways (${values.runner}) started and healthy in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
    // What the operator sees per phase: the retained inventories (republished on every change) and events.
    const seen = { inventory: 0, events: 0 }
    o.client.on('message', (topic) => {
      if (topic.endsWith('/mgmt/inventory')) seen.inventory++
      else if (topic.endsWith('/mgmt/events')) seen.events++
    })
    const since = (): (() => PhaseResult['seen']) => {
      const at = { ...seen }
      return () => ({ inventory: seen.inventory - at.inventory, events: seen.events - at.events })
    }
    const rss = (): number[] => gws.map((g) => rssKb(g.proc?.proc.pid ?? -1))
    const rssIdle = rss()

    bytes = await BrokerBytes.watch(mq.port)
    const b = bytes
    // The idle rate: keep-alives, probes, inventory refreshes, $SYS to our own watcher.
    const i0 = await b.next()
    await new Promise((r) => setTimeout(r, 5000))
    const i1 = await b.next()
    const idlePerS = (i1.received + i1.sent - i0.received - i0.sent) / ((i1.at - i0.at) / 1000)

    const results: PhaseResult[] = []
    let version = 1
    const phase = async (name: string, groups: Gw[][]): Promise<void> => {
      version++
      const v = version
      const s0 = await b.next()
      const counted = since()
      const t0 = performance.now()
      const steps: Array<{ state: string; took_ms?: number }> = []
      for (const group of groups) {
        const replies = await Promise.all(group.map((g) => o.request(g.id, 'config', { config: toml(g, mq.port, v) }, 120_000)))
        steps.push(...replies.map((r) => ({ state: String(r.state), took_ms: Number(r.took_ms) })))
        if (replies.some((r) => r.state !== 'committed')) break
      }
      const ms = performance.now() - t0
      const s1 = await b.next()
      const elapsedS = (s1.at - s0.at) / 1000
      const states: Record<string, number> = {}
      for (const s of steps) states[s.state] = (states[s.state] ?? 0) + 1
      results.push({ phase: name, seen: counted(), ms, bytes: s1.received + s1.sent - s0.received - s0.sent, idleBytes: idlePerS * elapsedS, tookMs: steps.map((s) => s.took_ms ?? Number.NaN), states })
      await runsEverywhere(name, v)
    }
    /** Every inventory names the pushed config (it is republished just after the answer). */
    const runsEverywhere = (name: string, v: number): Promise<unknown> =>
      waitFor(() => gws.every((g) => (o.inventory.get(g.id) as { config?: { hash?: string } } | undefined)?.config?.hash === configHash(toml(g, mq.port, v))), 15_000, 50, `${name}: every gateway on the pushed config`)
    for (let round = 1; round <= ROUNDS; round++) {
      await phase(`${round}: all ${COUNT} at once`, [gws])
      const groups: Gw[][] = []
      let at = 0
      for (const w of waves) {
        if (at >= gws.length) break
        groups.push(gws.slice(at, at + w))
        at += w
      }
      if (at < gws.length) groups.push(gws.slice(at))
      await phase(`${round}: waves ${groups.map((g) => g.length).join('+')}`, groups)

      // The rollout driver of the tests, one gateway at a time (what an operator without the CLI does).
      version++
      const v = version
      const s0 = await b.next()
      const counted = since()
      const t0 = performance.now()
      const steps = await rollout(o, gws.map((g) => ({ id: g.id, config: toml(g, mq.port, v) })), { attempts: 3, timeout: 60_000 })
      const ms = performance.now() - t0
      const s1 = await b.next()
      const states: Record<string, number> = {}
      for (const s of steps) states[s.state] = (states[s.state] ?? 0) + 1
      await runsEverywhere(`${round}: one at a time`, v)
      results.push({ phase: `${round}: one at a time`, seen: counted(), ms, bytes: s1.received + s1.sent - s0.received - s0.sent, idleBytes: (idlePerS * (s1.at - s0.at)) / 1000, tookMs: steps.map((s) => s.tookMs ?? Number.NaN), states })
    }
    const rssAfter = rss()

    const load = loadavg().map((l) => l.toFixed(2)).join(' ')
    process.stdout.write(`\n${new Date().toISOString()}  load ${load}  Node ${process.version} (operator), gateways: ${values.runner === 'exe' ? `executable ${exe}` : `tsx on ${process.version}`}, ${mosquittoVersion()}\n`)
    process.stdout.write(`idle broker traffic with ${COUNT} gateways: ${Math.round(idlePerS)} B/s\n\n`)
    process.stdout.write('| rollout | gateways | wall time | commit per gateway p50 / max | bytes through the broker | of which idle | per gateway, idle removed | inventories / events per gateway at the operator | outcome |\n|---|---:|---:|---:|---:|---:|---:|---:|---|\n')
    for (const r of results) {
      const took = r.tookMs.filter(Number.isFinite)
      const tookCell = took.length ? `${median(took)} / ${Math.max(...took)} ms` : '-'
      process.stdout.write(`| ${r.phase} | ${COUNT} | ${(r.ms / 1000).toFixed(2)} s | ${tookCell} | ${kb(r.bytes)} | ${kb(r.idleBytes)} | ${kb((r.bytes - r.idleBytes) / COUNT)} | ${(r.seen.inventory / COUNT).toFixed(1)} / ${(r.seen.events / COUNT).toFixed(1)} | ${Object.entries(r.states).map(([k, n]) => `${n} ${k}`).join(', ')} |\n`)
    }
    const mbOf = (xs: number[]): string => `${(median(xs) / 1024).toFixed(1)} MB median, ${(Math.max(...xs) / 1024).toFixed(1)} MB max`
    process.stdout.write(`\ngateway RSS: ${mbOf(rssIdle)} idle; ${mbOf(rssAfter)} after the rollouts\n`)
    process.stdout.write(`BENCH_JSON ${JSON.stringify({ bench: 'fleet', gateways: COUNT, runner: values.runner, load: loadavg(), idleBytesPerS: idlePerS, results, rssKbIdle: rssIdle, rssKbAfter: rssAfter })}\n`)
  } finally {
    await bytes?.close()
    await op?.close()
    await Promise.all(gws.map((g) => g.proc?.kill()))
    await mq.stop()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/fleet: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})

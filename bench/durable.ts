/**
 * Durable path end to end (issue 4): QoS 1 PUBLISH → embedded broker → LevelDB queue (PUBACK after
 * fsync) → uplink, with the real gateway as a child process, next to the raw classic-level limit of
 * this disk measured in the same run.
 *
 *   node --import tsx bench/durable.ts [--publishers 10] [--window 64] [--seconds 8] [--backlog 100000]
 *                                      [--raw 50000] [--uplink-window <default from the schema>] [--live <backlog>]
 *                                      [--runner exe|tsx] [--exe dist/fieldgate-linux-x64]
 *
 * The gateway runs as shipped by default: the x64 executable (built or reused by scripts/build-exe.ts)
 * on its embedded Node; `--runner tsx` runs src/cli.ts under tsx on this Node instead.
 *
 * Phases: (1) raw batch of 100 with sync; (2) timed ingest with the cloud down; (3) a backlog built the
 * same way, then the cloud (Mosquitto) comes up with a subscriber attached before the gateway restarts,
 * and the drain is timed with replay_rate = 0; (3b) live: the same publishers with the cloud up, every
 * message through the durable queue to the cloud (PUBACK rate, arrival rate, order); (4) ratios.
 *
 * "A drain at least 5x faster than the backlog was produced at the default rate" is read here as:
 * the backlog was produced by the built-in demo config's sensors (src/demo-config.ts: points ×
 * 1/poll_interval, computed from the parsed config), so the drain rate is divided by that production
 * rate. Drain rate / durable ingest rate is printed too (a stricter, worst-case reading: a backlog
 * produced as fast as the gateway can take it).
 *
 * Bounded: every wait has a limit, a watchdog ends the run after LIMIT_MS, children are killed on exit.
 */
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ClassicLevel } from 'classic-level'
import { uplinkSchema } from '../src/config/sections/bridge.ts'
import { storageSchema } from '../src/config/sections/storage.ts'
import { startGateway, type GatewayProcess } from '../test/helpers/gateway.ts'
import { startMosquitto } from '../test/helpers/mosquitto.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir, waitFor } from '../test/helpers/tmp.ts'
import { between, demoRate, dirBytes, gatewayToml, sample } from './lib/durable-gateway.ts'
import { OrderChecker, PAYLOAD_BYTES, WindowPublisher } from './lib/durable-load.ts'
import { cpuMs } from './lib/proc.ts'
import { fieldgateExe, probeEnv, reportedNode } from './lib/runtime.ts'

const { values: opts } = parseArgs({
  options: {
    publishers: { type: 'string', default: '10' },
    window: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '8' },
    backlog: { type: 'string', default: '100000' },
    raw: { type: 'string', default: '50000' },
    'uplink-window': { type: 'string' },
    runner: { type: 'string', default: 'exe' },
    exe: { type: 'string' },
    live: { type: 'string' },
  },
})
if (opts.runner !== 'exe' && opts.runner !== 'tsx') throw new Error(`--runner exe|tsx, got ${opts.runner}`)
const PUBLISHERS = Number(opts.publishers)
const WINDOW = Number(opts.window)
const SECONDS = Number(opts.seconds)
const BACKLOG = Math.ceil(Number(opts.backlog) / PUBLISHERS) * PUBLISHERS
const LIVE = Math.ceil(Number(opts.live ?? opts.backlog) / PUBLISHERS) * PUBLISHERS
const RAW_N = Math.ceil(Number(opts.raw) / 100) * 100
const UPLINK_DEFAULTS = uplinkSchema.parse({ name: 'x', url: 'mqtt://127.0.0.1:1' })
const UPLINK_WINDOW = Number(opts['uplink-window'] ?? UPLINK_DEFAULTS.window)
const DEFAULT_REPLAY_RATE = UPLINK_DEFAULTS.replay_rate
const MAX_BATCH = storageSchema.parse({}).max_batch
const WARMUP_MS = 1000
const LIMIT_MS = 180_000
const PHASE_MS = 90_000
const STALL_MS = 10_000

const rows: Array<[string, string]> = []
const report = (name: string, value: string): void => {
  rows.push([name, value])
  console.error(`  ${name}: ${value}`)
}
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')
const pct = (n: number): string => `${(n * 100).toFixed(0)}%`
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const cleanups: Array<() => unknown> = []
async function cleanupAll(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      await c()
    } catch {
      // best effort: the remaining cleanups still run
    }
  }
}
function temp(prefix: string): string {
  const t = tempDir(prefix)
  cleanups.push(t.cleanup)
  return t.dir
}
let exePath: string | undefined
let gatewayNode = '?'
async function gateway(dir: string, toml: string, port: number): Promise<GatewayProcess> {
  if (opts.runner === 'exe' && exePath === undefined) exePath = await fieldgateExe(join(import.meta.dirname, '..'), opts.exe ?? null)
  const gw = await startGateway(dir, toml, { waitPort: port, timeout: 30_000, env: probeEnv(), ...(exePath === undefined ? {} : { exe: exePath }) })
  gatewayNode = reportedNode(gw.log.join(''))
  cleanups.push(() => gw.kill('SIGKILL'))
  return gw
}
async function stopGateway(gw: GatewayProcess): Promise<void> {
  const r = await gw.kill('SIGTERM')
  if (r.code !== 0) console.error(`gateway exited with ${r.code ?? r.signal}:\n${gw.log.join('').slice(-2000)}`)
}

/** Raw classic-level: `n` 64-byte values in synced batches of `size` (100 is the reference). */
async function rawBatch(n: number, size: number): Promise<number> {
  const db = new ClassicLevel<Buffer, Buffer>(temp('fieldgate-durable-raw-'), { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  const value = Buffer.alloc(PAYLOAD_BYTES, 7)
  const t = performance.now()
  const batches = Math.ceil(n / size)
  for (let b = 0; b < batches; b++) {
    const ops = Array.from({ length: size }, (_, i) => {
      const key = Buffer.alloc(8)
      key.writeBigUInt64BE(BigInt(b * size + i))
      return { type: 'put' as const, key, value }
    })
    await db.batch(ops, { sync: true })
  }
  const rate = (batches * size * 1000) / (performance.now() - t)
  await db.close()
  return rate
}

async function publishers(port: number, perPublisher: number): Promise<WindowPublisher[]> {
  const pubs: WindowPublisher[] = []
  cleanups.push(() => pubs.forEach((p) => p.close()))
  for (let i = 0; i < PUBLISHERS; i++) {
    const p = new WindowPublisher(i, `data/p${i}`, WINDOW, perPublisher)
    await p.connect(port, `durable-pub-${i}`)
    pubs.push(p)
  }
  return pubs
}
const ackedOf = (pubs: WindowPublisher[]): number => pubs.reduce((n, p) => n + p.acked, 0)

/** Waits for the whole backlog upstream; fails early when nothing arrives for STALL_MS (a stuck drain). */
async function drained(checker: OrderChecker): Promise<void> {
  const end = performance.now() + PHASE_MS
  let seen = -1
  let changedAt = performance.now()
  while (checker.missing > 0) {
    const now = performance.now()
    if (checker.received !== seen) {
      seen = checker.received
      changedAt = now
    }
    const why = now - changedAt > STALL_MS ? `no arrival for ${STALL_MS / 1000} s` : now > end ? `not done within ${PHASE_MS / 1000} s` : null
    if (why) throw new Error(`drain stalled (${why}): ${fmt(checker.received)} received, ${fmt(checker.missing)} of ${fmt(BACKLOG)} missing`)
    await sleep(20)
  }
}

async function main(): Promise<void> {
  const started = performance.now()
  const load0 = loadavg()
  console.error(`durable bench ${new Date().toISOString()}: ${PUBLISHERS} publishers × window ${WINDOW}, ${PAYLOAD_BYTES}-byte payloads, gateway runner ${opts.runner}, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`)

  console.error('1. raw classic-level')
  const raw = await rawBatch(RAW_N, 100)
  report(`raw classic-level, batch of 100, sync (${fmt(RAW_N)} msgs)`, `${fmt(raw)} msg/s  (the reference)`)
  // Context only: the gateway's group commit takes up to storage.max_batch appends per fsync, so with
  // publishers × window in flight its batches are larger than 100.
  const rawMax = await rawBatch(RAW_N, MAX_BATCH)
  report(`raw classic-level, batch of ${MAX_BATCH} (storage.max_batch), sync`, `${fmt(rawMax)} msg/s`)

  const port = await freePort()
  const upstream = await freePort()

  console.error(`2. durable ingest through the broker, cloud down, ${SECONDS} s after ${WARMUP_MS} ms warm-up`)
  const dirA = temp('fieldgate-durable-a-')
  let gw = await gateway(dirA, gatewayToml(dirA, port, upstream, UPLINK_WINDOW), port)
  let pubs = await publishers(port, Number.POSITIVE_INFINITY)
  pubs.forEach((p) => p.start())
  await sleep(WARMUP_MS)
  const s0 = sample(gw, ackedOf(pubs))
  const gen0 = process.cpuUsage()
  // Per-second PUBACK counts show stalls (LevelDB compactions) that the average hides.
  const perSecond: number[] = []
  let prev = s0
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000)
    const now = sample(gw, ackedOf(pubs))
    perSecond.push(((now.acked - prev.acked) * 1000) / (now.t - prev.t))
    prev = now
  }
  const s1 = prev
  const gen = process.cpuUsage(gen0)
  pubs.forEach((p) => p.stop())
  await waitFor(() => pubs.every((p) => p.inflight === 0), 10_000, 10, 'outstanding PUBACKs')
  pubs.forEach((p) => p.close())
  await stopGateway(gw)
  const ingest = between(s0, s1, s1.acked - s0.acked)
  report('durable QoS 1 ingest via broker (PUBACKs)', `${fmt(ingest.rate)} msg/s = ${pct(ingest.rate / raw)} of raw batch of 100 (target >= 50%); ${pct(ingest.rate / rawMax)} of batch of ${MAX_BATCH}`)
  report('  per second, min / max', `${fmt(Math.min(...perSecond))} / ${fmt(Math.max(...perSecond))} msg/s`)
  report('  gateway CPU during ingest', `${ingest.cpuPct.toFixed(0)}% of one core = ${(((s1.cpu - s0.cpu) * 1000) / (s1.acked - s0.acked)).toFixed(1)} µs per acknowledged message; load generator ${(((gen.user + gen.system) / 1000 / (s1.t - s0.t)) * 100).toFixed(0)}%`)
  report('  gateway write_bytes / msg (block layer)', `${ingest.writeBytes.toFixed(0)} B`)
  report('  gateway wchar / msg (all write() incl. PUBACKs to sockets)', `${ingest.wchar.toFixed(0)} B`)

  console.error(`3. backlog of ${fmt(BACKLOG)} (cloud down), then drain with replay_rate = 0`)
  const dirB = temp('fieldgate-durable-b-')
  const toml = gatewayToml(dirB, port, upstream, UPLINK_WINDOW)
  gw = await gateway(dirB, toml, port)
  pubs = await publishers(port, BACKLOG / PUBLISHERS)
  const f0 = sample(gw, 0)
  pubs.forEach((p) => p.start())
  await waitFor(() => pubs.every((p) => p.done), PHASE_MS, 5, `${fmt(BACKLOG)} acknowledged publishes`)
  const f1 = sample(gw, ackedOf(pubs))
  pubs.forEach((p) => p.close())
  const fill = between(f0, f1, BACKLOG)
  report(`backlog fill (${fmt(BACKLOG)} msgs)`, `${fmt(fill.rate)} msg/s, ${((f1.t - f0.t) / 1000).toFixed(1)} s, gateway CPU ${fill.cpuPct.toFixed(0)}%, write_bytes ${fill.writeBytes.toFixed(0)} B/msg, gateway RSS ${(f1.rssKb / 1024).toFixed(0)} MB`)
  await stopGateway(gw)
  report('  LevelDB directory with the backlog', `${(dirBytes(`${dirB}/data`) / 1e6).toFixed(1)} MB (${(dirBytes(`${dirB}/data`) / BACKLOG).toFixed(0)} B/msg)`)

  // The cloud comes up and its subscriber attaches while the gateway is down: the drain cannot start early.
  const mosq = await startMosquitto({ port: upstream })
  cleanups.push(() => mosq.stop('SIGKILL'))
  const checker = new OrderChecker(PUBLISHERS, BACKLOG / PUBLISHERS)
  await checker.connect(upstream, 'data/#')
  cleanups.push(() => checker.close())
  const mosqCpu0 = cpuMs(mosq.proc.pid ?? -1)
  const t0 = performance.now()
  gw = await gateway(dirB, toml, port)
  const ready = sample(gw, 0)
  await drained(checker).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${gw.log.join('').slice(-2000)}`)
  })
  const end = sample(gw, 0)
  const mosqCpu = cpuMs(mosq.proc.pid ?? -1) - mosqCpu0
  await sleep(500) // late duplicates, if any, show up in the counts
  await stopGateway(gw)
  checker.close()
  const drainMs = checker.lastAt - checker.firstAt
  const drain = (BACKLOG * 1000) / drainMs
  const totalMs = checker.lastAt - t0
  report('drain, replay_rate = 0 (first to last arrival)', `${fmt(drain)} msg/s, ${(drainMs / 1000).toFixed(2)} s (uplink window ${UPLINK_WINDOW})`)
  report('  drain incl. gateway start (spawn to last arrival)', `${(totalMs / 1000).toFixed(2)} s = ${fmt((BACKLOG * 1000) / totalMs)} msg/s; start to listening ${((ready.t - t0) / 1000).toFixed(2)} s`)
  report('  gateway CPU from listening to last arrival', `${(((end.cpu - ready.cpu) / (end.t - ready.t)) * 100).toFixed(0)}% of one core = ${(((end.cpu - ready.cpu) * 1000) / BACKLOG).toFixed(1)} µs per drained message; upstream Mosquitto ${((mosqCpu / totalMs) * 100).toFixed(0)}%`)
  report('  at the subscriber', `${fmt(checker.received)} received, ${fmt(checker.received - checker.duplicates - checker.foreign)} distinct of ${fmt(BACKLOG)}, ${checker.duplicates} duplicates, ${checker.outOfOrder} out of order, ${checker.foreign} foreign`)
  report(`  default replay_rate (schema)`, `${fmt(DEFAULT_REPLAY_RATE)} msg/s → ${(BACKLOG / DEFAULT_REPLAY_RATE).toFixed(0)} s for ${fmt(BACKLOG)} (unlimited is ${(drain / DEFAULT_REPLAY_RATE).toFixed(1)}x faster)`)

  console.error(`3b. live: ${fmt(LIVE)} messages with the cloud up (durable append, then uplink)`)
  const dirC = temp('fieldgate-durable-c-')
  const liveChecker = new OrderChecker(PUBLISHERS, LIVE / PUBLISHERS)
  await liveChecker.connect(upstream, 'data/#')
  cleanups.push(() => liveChecker.close())
  gw = await gateway(dirC, gatewayToml(dirC, port, upstream, UPLINK_WINDOW), port)
  // Online before the first publish: a message accepted while the uplink connects would be backlog.
  await sleep(1500)
  pubs = await publishers(port, LIVE / PUBLISHERS)
  const l0 = sample(gw, 0)
  const liveT0 = performance.now()
  pubs.forEach((p) => p.start())
  await waitFor(() => pubs.every((p) => p.done), PHASE_MS, 5, `${fmt(LIVE)} acknowledged live publishes`)
  const l1 = sample(gw, ackedOf(pubs))
  const liveAcked = between(l0, l1, LIVE)
  await waitFor(() => liveChecker.missing <= 0, PHASE_MS, 5, `${fmt(LIVE)} live messages upstream`)
  const l2 = sample(gw, 0)
  const liveMs = liveChecker.lastAt - liveT0
  pubs.forEach((p) => p.close())
  await sleep(300)
  await stopGateway(gw)
  liveChecker.close()
  const liveRate = (LIVE * 1000) / liveMs
  report('live, cloud up: PUBACK rate (durable append)', `${fmt(liveAcked.rate)} msg/s`)
  report('live, cloud up: first publish to last arrival upstream', `${fmt(liveRate)} msg/s, ${(liveMs / 1000).toFixed(2)} s`)
  report('  gateway CPU / write_bytes during live', `${(((l2.cpu - l0.cpu) / (l2.t - l0.t)) * 100).toFixed(0)}% of one core, ${liveAcked.writeBytes.toFixed(0)} B/msg`)
  report('  at the subscriber (live)', `${fmt(liveChecker.received)} received, ${liveChecker.duplicates} duplicates, ${liveChecker.outOfOrder} out of order, ${liveChecker.foreign} foreign`)

  console.error('4. ratios')
  const demo = demoRate()
  report(`demo config production rate (${demo.points} points)`, `${demo.rate.toFixed(2)} msg/s → ${fmt(BACKLOG)} msgs = ${(BACKLOG / demo.rate / 3600).toFixed(1)} h of outage`)
  report('drain / demo production rate (issue target >= 5x)', `${fmt(drain / demo.rate)}x unlimited; ${fmt(DEFAULT_REPLAY_RATE / demo.rate)}x at the default replay_rate`)
  report('drain / durable ingest rate', `${(drain / ingest.rate).toFixed(2)}x`)
  const load1 = loadavg()
  report('processes', `gateway: node ${gatewayNode} (${exePath ?? 'tsx'}); load generator and harness: node ${process.version} (tsx)`)
  report('load average before → after', `${load0[0]?.toFixed(2)} → ${load1[0]?.toFixed(2)} (2 cores, shared)`)
  report('total bench time', `${((performance.now() - started) / 1000).toFixed(1)} s`)

  const width = Math.max(...rows.map(([n]) => n.length))
  console.log('\n=== bench/durable.ts summary ===')
  for (const [n, v] of rows) console.log(`${n.padEnd(width)}  ${v}`)
  const r = (n: number, d = 0): number => Number(n.toFixed(d))
  console.log(
    JSON.stringify({
      bench: 'durable',
      publishers: PUBLISHERS,
      window: WINDOW,
      payload_bytes: PAYLOAD_BYTES,
      raw_batch_msg_s: r(raw),
      raw_max_batch_msg_s: r(rawMax),
      max_batch: MAX_BATCH,
      ingest_msg_s: r(ingest.rate),
      ingest_vs_raw: r(ingest.rate / raw, 3),
      ingest_vs_raw_max_batch: r(ingest.rate / rawMax, 3),
      ingest_per_second: perSecond.map((x) => r(x)),
      ingest_cpu_pct: r(ingest.cpuPct),
      ingest_cpu_us_per_msg: r(((s1.cpu - s0.cpu) * 1000) / (s1.acked - s0.acked), 1),
      drain_cpu_us_per_msg: r(((end.cpu - ready.cpu) * 1000) / BACKLOG, 1),
      gateway_node: gatewayNode,
      runner: opts.runner,
      ingest_write_bytes_per_msg: r(ingest.writeBytes),
      ingest_wchar_per_msg: r(ingest.wchar),
      backlog: BACKLOG,
      fill_msg_s: r(fill.rate),
      uplink_window: UPLINK_WINDOW,
      drain_msg_s: r(drain),
      drain_s: r(drainMs / 1000, 2),
      drain_incl_start_s: r(totalMs / 1000, 2),
      received: checker.received,
      duplicates: checker.duplicates,
      out_of_order: checker.outOfOrder,
      missing: Math.max(0, checker.missing),
      default_replay_rate: DEFAULT_REPLAY_RATE,
      drain_at_default_s: r(BACKLOG / DEFAULT_REPLAY_RATE, 1),
      demo_msg_s: r(demo.rate, 2),
      drain_vs_demo: r(drain / demo.rate),
      default_replay_vs_demo: r(DEFAULT_REPLAY_RATE / demo.rate, 1),
      drain_vs_ingest: r(drain / ingest.rate, 3),
      live: LIVE,
      live_puback_msg_s: r(liveAcked.rate),
      live_end_to_end_msg_s: r(liveRate),
      live_duplicates: liveChecker.duplicates,
      live_out_of_order: liveChecker.outOfOrder,
      loadavg_1m: r(load0[0] ?? 0, 2),
    }),
  )
}

const watchdog = setTimeout(() => {
  console.error(`bench/durable: exceeded ${LIMIT_MS / 1000} s, stopping`)
  void cleanupAll().finally(() => process.exit(1))
}, LIMIT_MS)
watchdog.unref()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void cleanupAll().finally(() => process.exit(130)))
}

main()
  .then(async () => {
    await cleanupAll()
    clearTimeout(watchdog)
  })
  .catch(async (err: unknown) => {
    console.error(err)
    await cleanupAll()
    process.exit(1)
  })

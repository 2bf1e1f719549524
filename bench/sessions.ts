/**
 * Persistent sessions (issue 10): QoS 1 fan-in to one offline persistent subscriber, with the
 * acknowledgement held until the message is queued for that session on disk, next to Mosquitto with
 * persistence on (which keeps such messages only in memory until its autosave). Each broker then gets
 * a kill -9 right after the last PUBACK and a restart, and the subscriber comes back to count what it
 * gets of what was acknowledged.
 *
 *   node --import tsx bench/sessions.ts [--publishers 10] [--window 64] [--seconds 5]
 *                                       [--brokers fieldgate,mosquitto] [--before <checkout>] [--online]
 *
 * `--online` keeps the subscriber connected (acknowledging every delivery) during the ingest; what it
 * had not received by the kill must come after the restart. "delivered" counts distinct acknowledged
 * messages the subscriber got over both of its connections.
 *
 * `--before <dir>` adds a Fieldgate run from another checkout (e.g. a `git worktree` of the commit
 * before the change) with the same config, for a before/after figure in one run.
 *
 * Bounded: every wait has a limit, a watchdog ends the run after LIMIT_MS, children are killed on exit.
 */
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { join, resolve } from 'node:path'
import { gatewayToml as baseToml, startGateway } from '../test/helpers/gateway.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir, waitFor } from '../test/helpers/tmp.ts'
import { RawClient } from './lib/client.ts'
import { PAYLOAD_BYTES, WindowPublisher } from './lib/durable-load.ts'
import { publishPayloadStart } from './lib/frames.ts'
import { startPersistentMosquitto, type Killable } from './lib/sessions-brokers.ts'
import { cpuMs } from './lib/proc.ts'

const { values: opts } = parseArgs({
  options: {
    publishers: { type: 'string', default: '10' },
    window: { type: 'string', default: '64' },
    seconds: { type: 'string', default: '5' },
    brokers: { type: 'string', default: 'fieldgate,mosquitto' },
    before: { type: 'string' },
    online: { type: 'boolean', default: false },
  },
})
const PUBLISHERS = Number(opts.publishers)
/** The subscriber stays connected (acknowledging) during the ingest instead of going offline. */
const ONLINE = opts.online
const WINDOW = Number(opts.window)
const SECONDS = Number(opts.seconds)
const WARMUP_MS = 1000
const LIMIT_MS = 240_000
const SUBSCRIBER = 'sessions-bench-sub'
const SETTLE_MS = 3000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

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

function gatewayToml(dir: string, port: number): string {
  return baseToml({
    id: 'sessions-bench',
    port,
    dataDir: join(dir, 'data'),
    broker: `[broker.limits]
max_queued_messages = 0
max_queued_bytes = 0`,
  })
}

interface Target {
  name: string
  start(port: number): Promise<Killable>
}

function fieldgate(name: string, root: string | undefined): Target {
  const { dir, cleanup } = tempDir('fieldgate-sessions-bench-')
  cleanups.push(cleanup)
  return {
    name,
    async start(port) {
      const gw = await startGateway(dir, gatewayToml(dir, port), { waitPort: port, timeout: 30_000, ...(root === undefined ? {} : { root }) })
      const stop = (): Promise<unknown> => gw.kill('SIGKILL')
      cleanups.push(stop)
      return { pid: gw.proc.pid ?? -1, kill9: stop }
    },
  }
}

function mosquitto(): Target {
  const { dir, cleanup } = tempDir('fieldgate-sessions-mosq-')
  cleanups.push(cleanup)
  return {
    name: 'Mosquitto (persistence true)',
    async start(port) {
      const m = await startPersistentMosquitto(dir, port)
      cleanups.push(m.kill9)
      return m
    },
  }
}

/** Distinct (publisher, seq) deliveries seen by the subscriber, over all its connections. */
class Deliveries {
  received = 0
  private readonly seen: Uint8Array[] = []
  onPublish(qos: number, buf: Buffer, start: number): void {
    this.received++
    const at = publishPayloadStart(buf, start, qos)
    const pub = buf.readUInt32BE(at)
    const seq = buf.readUInt32BE(at + 4)
    if (pub >= PUBLISHERS) return
    let seen = this.seen[pub] ?? new Uint8Array(1024)
    if (seq >= seen.length) {
      const bigger = new Uint8Array(Math.max(seen.length * 2, seq + 1))
      bigger.set(seen)
      seen = bigger
    }
    this.seen[pub] = seen
    seen[seq] = 1
  }
  /** How many of the first acked[p] messages of each publisher arrived. */
  of(acked: number[]): number {
    let n = 0
    acked.forEach((count, p) => {
      const seen = this.seen[p]
      for (let i = 0; seen !== undefined && i < Math.min(count, seen.length); i++) n += seen[i] as number
    })
    return n
  }
}

interface Row {
  broker: string
  ingest: number
  minPerSecond: number
  cpuPct: number
  acked: number
  delivered: number
}

async function run(target: Target): Promise<Row> {
  console.error(`${target.name}:`)
  const port = await freePort()
  let broker = await target.start(port)
  // The persistent session: subscribe, then go offline (or stay, with --online).
  const got = new Deliveries()
  const sub = await RawClient.connect({ port, clientId: SUBSCRIBER, clean: false, onPublish: (q, b, s) => got.onPublish(q, b, s) })
  cleanups.push(() => sub.close())
  await sub.subscribe('data/#', 1)
  if (!ONLINE) {
    sub.close()
    await sleep(200)
  }

  const pubs: WindowPublisher[] = []
  cleanups.push(() => pubs.forEach((p) => p.close()))
  for (let i = 0; i < PUBLISHERS; i++) {
    const p = new WindowPublisher(i, `data/p${i}`, WINDOW, Number.POSITIVE_INFINITY)
    await p.connect(port, `sessions-pub-${i}`)
    pubs.push(p)
  }
  const acked = (): number => pubs.reduce((n, p) => n + p.acked, 0)
  pubs.forEach((p) => p.start())
  await sleep(WARMUP_MS)
  const a0 = acked()
  const c0 = cpuMs(broker.pid)
  const t0 = performance.now()
  const perSecond: number[] = []
  let prev = a0
  for (let i = 0; i < SECONDS; i++) {
    await sleep(1000)
    const now = acked()
    perSecond.push(now - prev)
    prev = now
  }
  const ms = performance.now() - t0
  const cpuPct = ((cpuMs(broker.pid) - c0) / ms) * 100
  const ingest = ((prev - a0) * 1000) / ms
  pubs.forEach((p) => p.stop())
  await waitFor(() => pubs.every((p) => p.inflight === 0), 20_000, 5, 'outstanding PUBACKs')
  const ackedPer = pubs.map((p) => p.acked)
  await broker.kill9() // right after the last PUBACK
  pubs.forEach((p) => p.close())
  sub.close()
  const before = got.of(ackedPer)
  const total = ackedPer.reduce((n, x) => n + x, 0)
  console.error(`  ingest ${fmt(ingest)} msg/s (per second ${perSecond.map(fmt).join(', ')}), CPU ${cpuPct.toFixed(0)}%; ${fmt(total)} acknowledged, ${fmt(before)} of them delivered, kill -9`)

  broker = await target.start(port)
  const back = await RawClient.connect({ port, clientId: SUBSCRIBER, clean: false, onPublish: (q, b, s) => got.onPublish(q, b, s) })
  // Until everything acknowledged arrived, or nothing new for SETTLE_MS (what is lost never comes).
  let last = -1
  let lastAt = performance.now()
  await waitFor(
    () => {
      if (got.received !== last) {
        last = got.received
        lastAt = performance.now()
      }
      return got.of(ackedPer) >= total || performance.now() - lastAt > SETTLE_MS
    },
    120_000,
    50,
    'deliveries after the restart',
  )
  back.close()
  await broker.kill9()
  const delivered = got.of(ackedPer)
  console.error(`  after restart: ${fmt(delivered)} of ${fmt(total)} acknowledged messages delivered in all (${fmt(got.received)} PUBLISHes)`)
  return { broker: target.name, ingest, minPerSecond: Math.min(...perSecond), cpuPct, acked: total, delivered }
}

async function main(): Promise<void> {
  const load0 = loadavg()
  console.error(`sessions bench: ${PUBLISHERS} publishers × window ${WINDOW}, QoS 1, ${PAYLOAD_BYTES}-byte payloads → 1 ${ONLINE ? 'connected' : 'offline'} persistent subscriber (3.1.1, clean session 0); ${SECONDS} s after ${WARMUP_MS} ms warm-up; load average ${load0.map((l) => l.toFixed(2)).join(' ')}`)
  const names = new Set(opts.brokers.split(','))
  const targets: Target[] = []
  if (names.has('fieldgate')) targets.push(fieldgate('Fieldgate (this tree)', undefined))
  if (opts.before !== undefined) targets.push(fieldgate(`Fieldgate (${opts.before})`, resolve(opts.before)))
  if (names.has('mosquitto')) targets.push(mosquitto())
  const rows: Row[] = []
  for (const t of targets) rows.push(await run(t))

  const load1 = loadavg()
  const width = Math.max(...rows.map((r) => r.broker.length), 6)
  console.log('\n=== bench/sessions.ts summary ===')
  console.log(`${'broker'.padEnd(width)}  ${'ingest msg/s'.padStart(12)}  ${'min/s'.padStart(8)}  ${'CPU'.padStart(5)}  ${'acknowledged'.padStart(12)}  ${'delivered'.padStart(13)}  ${'lost'.padStart(7)}`)
  for (const r of rows) {
    const lost = r.acked - r.delivered
    console.log(
      `${r.broker.padEnd(width)}  ${fmt(r.ingest).padStart(12)}  ${fmt(r.minPerSecond).padStart(8)}  ${`${r.cpuPct.toFixed(0)}%`.padStart(5)}  ${fmt(r.acked).padStart(12)}  ${fmt(r.delivered).padStart(13)}  ${`${((lost / r.acked) * 100).toFixed(1)}%`.padStart(7)}`,
    )
  }
  console.log(`load average (1 min) ${load0[0]?.toFixed(2)} → ${load1[0]?.toFixed(2)} (2 cores, shared)`)
  console.log(JSON.stringify({ bench: 'sessions', online: ONLINE, publishers: PUBLISHERS, window: WINDOW, seconds: SECONDS, rows, loadavg_1m: [load0[0], load1[0]] }))
}

const watchdog = setTimeout(() => {
  console.error(`bench/sessions: exceeded ${LIMIT_MS / 1000} s, stopping`)
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

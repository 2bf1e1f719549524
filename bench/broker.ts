/**
 * Broker benchmark: Fieldgate vs Mosquitto vs Aedes, same loads, each broker in its own process and
 * the load generator in another. `node --import tsx bench/broker.ts [--help]`.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { summariseProfile } from './lib/cpuprofile.ts'
import { runPhase } from './lib/phase.ts'
import { formatCpu, formatTable, PHASES, type BrokerResults, type PhaseName, type Results } from './lib/report.ts'
import { BROKER_KINDS, killLiveChildren, openFilesLimit, startBroker, type BrokerKind, type BrokerProcess } from './lib/servers.ts'
import type { PhaseSpec } from './lib/loadgen.ts'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

interface Options {
  brokers: BrokerKind[]
  phases: PhaseName[]
  durationMs: number
  warmupMs: number
  connections: number
  profile: boolean
  /** Mosquitto with set_tcp_nodelay true; off by default (Mosquitto's own default, faster here at throughput). */
  mosquittoNodelay: boolean
}

const USAGE = `usage: node --import tsx bench/broker.ts [options]
  --brokers fieldgate,mosquitto,aedes   which brokers (default: all; fieldgate skipped if src/broker is missing)
  --phases connections,fanin0,fanin1,fanout,latency   which loads (default: all)
  --duration <s>      measured seconds per throughput/latency phase (default 5, max 30)
  --warmup <s>        unmeasured seconds before each phase (default 1, max 10)
  --connections <n>   idle connections for connect rate and RSS (default 5000, max 15000)
  --profile           run Fieldgate with --cpu-prof and print its top self-time functions
  --mosquitto-nodelay run Mosquitto with set_tcp_nodelay true (default: its own default, Nagle on)`

function parseArgs(argv: string[]): Options {
  const o: Options = { brokers: [...BROKER_KINDS], phases: [...PHASES], durationMs: 5000, warmupMs: 1000, connections: 5000, profile: false, mosquittoNodelay: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = argv[i + 1]
    const num = (min: number, max: number): number => {
      const n = Number(v)
      if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${a} needs a number in ${min}..${max}, got ${v}\n${USAGE}`)
      i++
      return n
    }
    if (a === '--brokers') {
      o.brokers = listOf(v, BROKER_KINDS, a)
      i++
    } else if (a === '--phases') {
      o.phases = listOf(v, PHASES, a)
      i++
    } else if (a === '--duration') o.durationMs = num(0.5, 30) * 1000
    else if (a === '--warmup') o.warmupMs = num(0, 10) * 1000
    else if (a === '--connections') o.connections = Math.round(num(1, 15000))
    else if (a === '--profile') o.profile = true
    else if (a === '--mosquitto-nodelay') o.mosquittoNodelay = true
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE + '\n')
      process.exit(0)
    } else throw new Error(`unknown option ${a}\n${USAGE}`)
  }
  return o
}

function listOf<T extends string>(v: string | undefined, allowed: readonly T[], flag: string): T[] {
  const items = (v ?? '').split(',').filter(Boolean)
  const bad = items.filter((x) => !(allowed as readonly string[]).includes(x))
  if (!items.length || bad.length) throw new Error(`${flag}: expected a comma list of ${allowed.join(', ')}; got ${v ?? 'nothing'}`)
  return items as T[]
}

function specFor(phase: PhaseName, b: BrokerProcess, o: Options): PhaseSpec {
  const base = { port: b.port, brokerPid: b.pid, warmupMs: o.warmupMs, durationMs: o.durationMs }
  switch (phase) {
    case 'fanin0':
      return { kind: 'throughput', ...base, publishers: 10, subscribers: 1, qos: 0, payloadBytes: 64, window: 10 * 200, pubWindow: 64 }
    case 'fanin1':
      return { kind: 'throughput', ...base, publishers: 10, subscribers: 1, qos: 1, payloadBytes: 64, window: 10 * 64, pubWindow: 64 }
    case 'fanout':
      return { kind: 'throughput', ...base, publishers: 1, subscribers: 100, qos: 0, payloadBytes: 64, window: 100, pubWindow: 64 }
    case 'latency':
      return { kind: 'latency', ...base, rate: 1000, qos: 1, payloadBytes: 64 }
    case 'connections':
      return { kind: 'connections', port: b.port, brokerPid: b.pid, count: o.connections, concurrency: 50, settleMs: 1500, timeoutMs: 60_000 }
  }
}

async function benchOne(kind: BrokerKind, o: Options, profileDir: string | null): Promise<BrokerResults> {
  const res: BrokerResults = {}
  const minFiles = o.connections + 1000
  const profFlags = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
  // The idle-connection phase gets a fresh broker so its RSS baseline is not inflated by earlier loads.
  const groups: PhaseName[][] = [o.phases.filter((p) => p === 'connections'), o.phases.filter((p) => p !== 'connections')]
  for (const group of groups) {
    if (!group.length) continue
    let broker: BrokerProcess
    try {
      // Profile the throughput group only: the connection phase would add a second, unrelated profile.
      broker = await startBroker(kind, {
        repoRoot,
        minFiles,
        nodeFlags: group.includes('connections') ? [] : profFlags,
        mosquittoExtra: o.mosquittoNodelay ? ['set_tcp_nodelay true'] : [],
      })
    } catch (err) {
      for (const p of group) res[p] = { error: errText(err) }
      continue
    }
    try {
      for (const phase of group) {
        process.stderr.write(`[bench] ${kind} ${phase} ...\n`)
        try {
          const r = await runPhase(repoRoot, specFor(phase, broker, o), minFiles)
          // Shapes come from our own loadgen child; see PhaseSpec/…Result types.
          ;(res as Record<PhaseName, unknown>)[phase] = r
        } catch (err) {
          res[phase] = { error: errText(err) + (broker.log() ? `; broker log: ${broker.log().slice(-300)}` : '') }
        }
      }
    } finally {
      await broker.stop()
    }
  }
  return res
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  if (o.brokers.includes('fieldgate') && !existsSync(join(repoRoot, 'src', 'broker', 'index.ts'))) {
    process.stderr.write('[bench] src/broker/index.ts not found: skipping Fieldgate\n')
    o.brokers = o.brokers.filter((b) => b !== 'fieldgate')
  }
  if (openFilesLimit() < o.connections + 1000) process.stderr.write(`[bench] ulimit -n is ${openFilesLimit()}: children raise it to ${o.connections + 1000}\n`)
  const profileDir = o.profile ? mkdtempSync(join(tmpdir(), 'fieldgate-prof-')) : null
  const started = Date.now()
  const load = (await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')
  const results: Results = {}
  for (const kind of o.brokers) results[kind] = await benchOne(kind, o, kind === 'fieldgate' ? profileDir : null)

  process.stdout.write(`\nBroker benchmark (64-byte payloads, ${o.durationMs / 1000} s per phase after ${o.warmupMs / 1000} s warm-up, load average at start ${load})\n\n`)
  process.stdout.write(formatTable(results) + '\n\n')
  process.stdout.write(formatCpu(results) + '\n')
  if (profileDir) {
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))
    for (const f of files) process.stdout.write(`\nFieldgate CPU profile ${join(profileDir, f)}:\n${summariseProfile(join(profileDir, f), 25)}\n`)
    if (!files.length) process.stdout.write(`\nno .cpuprofile written in ${profileDir}\n`)
  }
  const summary = { bench: 'broker', at: new Date().toISOString(), loadavg: load, seconds: Math.round((Date.now() - started) / 1000), options: o, results }
  process.stdout.write('\nBENCH_JSON ' + JSON.stringify(summary) + '\n')
}

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    killLiveChildren()
    process.exit(130)
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/broker: ${errText(err)}\n`)
  process.exit(1)
})

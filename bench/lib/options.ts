import type { PhaseSpec } from './loadgen.ts'
import { PHASES, type PhaseName } from './report.ts'
import { BROKER_KINDS, type BrokerKind, type BrokerProcess } from './servers.ts'

export type FieldgateRunner = 'exe' | 'tsx' | 'bundle' | 'bundle-nonames' | 'bundle-nodebug'
export const RUNNERS: readonly FieldgateRunner[] = ['exe', 'tsx', 'bundle', 'bundle-nonames', 'bundle-nodebug']

export interface Options {
  brokers: BrokerKind[]
  phases: PhaseName[]
  durationMs: number
  warmupMs: number
  /** Each throughput/latency phase runs this many times per broker, interleaved; the best run is reported. */
  rounds: number
  connections: number
  profile: boolean
  /** Mosquitto with set_tcp_nodelay true; off by default (Mosquitto's own default). */
  mosquittoNodelay: boolean
  /** Extra node flags for the Fieldgate child, e.g. ['--max-semi-space-size=2']. */
  fieldgateFlags: string[]
  /** How Fieldgate runs: the executable as shipped (default), the .ts under tsx, or an esbuild bundle on plain node (see bundle.ts). */
  runner: FieldgateRunner
  /** With runner exe: this executable instead of building dist/fieldgate-linux-x64. */
  exe: string | null
  /** Multiplies the end-to-end message windows of the throughput phases (sensitivity checks). */
  windowScale: number
}

export const USAGE = `usage: node --import tsx bench/broker.ts [options]
  --brokers fieldgate,mosquitto,aedes   which brokers (default: all; fieldgate skipped if src/broker is missing)
  --phases connections,fanin0,fanin1,retained1,fanout,latency  which loads (default: all)
  --duration <s>      measured seconds per throughput/latency phase (default 5, max 30)
  --warmup <s>        unmeasured seconds before each phase (default 1, max 10)
  --rounds <n>        runs per phase and broker, interleaved across brokers; best reported (default 2, max 5)
  --connections <n>   idle connections for connect rate and RSS (default 5000, max 15000)
  --window-scale <x>  multiply the throughput phases' in-flight windows (default 1; for sensitivity checks)
  --runner exe|tsx|bundle|bundle-nonames|bundle-nodebug   Fieldgate as shipped (default: the x64 single
                      executable from npm run build:exe, on its embedded Node, \`fieldgate run\` with a
                      broker-only config), under tsx, or esbuild-bundled on this node: minified with
                      keepNames as the release build, without keepNames, or as the release with the
                      'debug' package replaced by a no-op
  --exe <path>        with --runner exe: run this executable instead of building one
  --fieldgate-flags "<node flags>"   extra node flags for the Fieldgate process, e.g. "--max-semi-space-size=2"
  --profile           run Fieldgate with --cpu-prof and print its top self-time functions
  --mosquitto-nodelay run Mosquitto with set_tcp_nodelay true (default: its own default, Nagle on)`

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    brokers: [...BROKER_KINDS],
    phases: [...PHASES],
    durationMs: 5000,
    warmupMs: 1000,
    rounds: 2,
    connections: 5000,
    profile: false,
    mosquittoNodelay: false,
    windowScale: 1,
    runner: 'exe',
    exe: null,
    fieldgateFlags: [],
  }
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
    else if (a === '--rounds') o.rounds = Math.round(num(1, 5))
    else if (a === '--connections') o.connections = Math.round(num(1, 15000))
    else if (a === '--profile') o.profile = true
    else if (a === '--window-scale') o.windowScale = num(0.1, 20)
    else if (a === '--mosquitto-nodelay') o.mosquittoNodelay = true
    else if (a === '--fieldgate-flags') {
      o.fieldgateFlags = (v ?? '').split(' ').filter(Boolean)
      if (!o.fieldgateFlags.every((f) => f.startsWith('--'))) throw new Error(`--fieldgate-flags takes node flags such as "--max-semi-space-size=2", got ${v}`)
      i++
    } else if (a === '--exe') {
      o.exe = v ?? null
      i++
    } else if (a === '--runner') {
      o.runner = listOf(v, RUNNERS, a)[0] as FieldgateRunner
      i++
    }
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

/** The load of each phase; identical for every broker. */
export function specFor(phase: PhaseName, b: BrokerProcess, o: Options): PhaseSpec {
  const base = { port: b.port, brokerPid: b.pid, warmupMs: o.warmupMs, durationMs: o.durationMs }
  const w = (n: number): number => Math.max(1, Math.round(n * o.windowScale))
  switch (phase) {
    case 'fanin0':
      return { kind: 'throughput', ...base, publishers: 10, subscribers: 1, qos: 0, payloadBytes: 64, window: w(2000), pubWindow: 64, minBatch: 16 }
    case 'fanin1':
      return { kind: 'throughput', ...base, publishers: 10, subscribers: 1, qos: 1, payloadBytes: 64, window: w(640), pubWindow: 64, minBatch: 8 }
    case 'retained1':
      // fanin1 with the RETAIN flag: every publish also replaces its topic's retained message (and, for
      // Fieldgate, its LevelDB record)
      return { kind: 'throughput', ...base, publishers: 10, subscribers: 1, qos: 1, retain: true, payloadBytes: 64, window: w(640), pubWindow: 64, minBatch: 8 }
    case 'fanout':
      return { kind: 'throughput', ...base, publishers: 1, subscribers: 100, qos: 0, payloadBytes: 64, window: w(100), pubWindow: 64, minBatch: 16 }
    case 'latency':
      return { kind: 'latency', ...base, rate: 1000, qos: 1, payloadBytes: 64 }
    case 'connections':
      return { kind: 'connections', port: b.port, brokerPid: b.pid, count: o.connections, concurrency: 50, settleMs: 1500, timeoutMs: 60_000 }
  }
}

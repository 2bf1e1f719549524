/**
 * Broker benchmark: Fieldgate vs Mosquitto vs Aedes, same loads, each broker in its own process and
 * the load generator in another. `node --import tsx bench/broker.ts [--help]`.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { bundleFieldgateServer } from './lib/bundle.ts'
import { busiestProfile, formatSummary } from './lib/cpuprofile.ts'
import { parseArgs, specFor, type Options } from './lib/options.ts'
import { loadgenNode, runPhase } from './lib/phase.ts'
import { fieldgateExe } from './lib/runtime.ts'
import { best, formatCpu, formatCpuPerMessage, formatTable, type PhaseError, type PhaseName, type PhaseOutcome, type Results } from './lib/report.ts'
import { killLiveChildren, openFilesLimit, startBroker, type BrokerKind, type BrokerProcess } from './lib/servers.ts'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

type Rounds = Partial<Record<BrokerKind, Partial<Record<PhaseName, PhaseOutcome[]>>>>

function record(rounds: Rounds, kind: BrokerKind, phase: PhaseName, outcome: PhaseOutcome): void {
  const perBroker = (rounds[kind] ??= {})
  ;(perBroker[phase] ??= []).push(outcome)
}

async function measure(kind: BrokerKind, phase: PhaseName, b: BrokerProcess, o: Options, minFiles: number): Promise<PhaseOutcome> {
  process.stderr.write(`[bench] ${kind} ${phase} ...\n`)
  try {
    if (!b.alive()) throw new Error(`${kind} is no longer running`)
    // The loadgen child prints the result type that matches the spec's kind.
    const r = (await runPhase(repoRoot, specFor(phase, b, o), minFiles)) as PhaseOutcome
    if (!b.alive()) throw new Error(`${kind} ended during the ${phase} phase`)
    return r
  } catch (err) {
    const log = b.log().trim()
    return { error: errText(err) + (log ? `; broker log: ${log.slice(-300).replace(/\s+/g, ' ')}` : '') }
  }
}

let fieldgateBundle: string | null = null
let fieldgateExePath: string | null = null
/** What each broker ran on, as its process reported it. */
const runtimes: Partial<Record<BrokerKind, string>> = {}

async function start(kind: BrokerKind, o: Options, minFiles: number, nodeFlags: string[]): Promise<BrokerProcess | PhaseError> {
  try {
    if (kind === 'fieldgate' && o.runner !== 'tsx' && fieldgateBundle === null) fieldgateBundle = await bundleFieldgateServer(repoRoot, {
        keepNames: o.runner !== 'bundle-nonames',
        minify: !o.profile,
        stubDebug: o.runner === 'bundle-nodebug',
      })
    if (kind === 'fieldgate' && o.runner === 'exe' && fieldgateExePath === null) fieldgateExePath = await fieldgateExe(repoRoot, o.exe)
    const b = await startBroker(kind, {
      repoRoot,
      minFiles,
      nodeFlags,
      fieldgateBundle,
      fieldgateExe: o.runner === 'exe' ? fieldgateExePath : null,
      mosquittoExtra: o.mosquittoNodelay ? ['set_tcp_nodelay true'] : [],
    })
    runtimes[kind] = b.runtime
    return b
  } catch (err) {
    return { error: errText(err) }
  }
}

async function run(o: Options, profileDir: string | null): Promise<Rounds> {
  const rounds: Rounds = {}
  const minFiles = o.connections + 1000
  // Idle connections: a fresh broker each, so the RSS baseline is not inflated by earlier loads.
  if (o.phases.includes('connections')) {
    for (const kind of o.brokers) {
      const b = await start(kind, o, minFiles, kind === 'fieldgate' ? o.fieldgateFlags : [])
      if ('error' in b) record(rounds, kind, 'connections', b)
      else {
        record(rounds, kind, 'connections', await measure(kind, 'connections', b, o, minFiles))
        await b.stop()
      }
    }
  }
  const phases = o.phases.filter((p) => p !== 'connections')
  if (!phases.length) return rounds
  // All brokers stay up (idle ones cost nothing) and every phase alternates between them, rotating
  // the order each round, so a burst of load from elsewhere on the machine hits all of them alike.
  const live: BrokerProcess[] = []
  try {
    for (const kind of o.brokers) {
      const prof = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []
      const b = await start(kind, o, minFiles, kind === 'fieldgate' ? [...o.fieldgateFlags, ...prof] : [])
      if ('error' in b) for (const p of phases) record(rounds, kind, p, b)
      else live.push(b)
    }
    for (let r = 0; r < o.rounds; r++) {
      for (const phase of phases) {
        for (let k = 0; k < live.length; k++) {
          const b = live[(k + r) % live.length] as BrokerProcess
          record(rounds, b.kind, phase, await measure(b.kind, phase, b, o, minFiles))
        }
      }
    }
  } finally {
    for (const b of live) await b.stop()
  }
  return rounds
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
  const loadStart = loadavg().map((x) => x.toFixed(2)).join(' ')
  const rounds = await run(o, profileDir).finally(() => {
    // The bundle is rebuilt every run; the profile directory is kept for reading.
    if (fieldgateBundle) rmSync(dirname(fieldgateBundle), { recursive: true, force: true })
  })
  const loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ')
  const results: Results = {}
  for (const [kind, phases] of Object.entries(rounds) as [BrokerKind, Partial<Record<PhaseName, PhaseOutcome[]>>][]) {
    const r: Record<string, PhaseOutcome> = {}
    for (const [phase, outs] of Object.entries(phases) as [PhaseName, PhaseOutcome[]][]) r[phase] = best(phase, outs)
    results[kind] = r
  }

  const secs = Math.round((Date.now() - started) / 1000)
  process.stdout.write(
    `\nBroker benchmark: 64-byte payloads, ${o.durationMs / 1000} s per phase after ${o.warmupMs / 1000} s warm-up, ` +
      `best of ${o.rounds} interleaved round(s); Fieldgate runner ${o.runner}${o.runner === 'exe' && fieldgateExePath ? ` (${fieldgateExePath})` : ''}${o.fieldgateFlags.length ? ` ${o.fieldgateFlags.join(' ')}` : ''}; ${secs} s; load average ${loadStart} at start, ${loadEnd} at end\n\n`,
  )
  const procs = [
    ...o.brokers.map((k) => `${k}: ${runtimes[k] ?? 'not started'}`),
    `load generator: node ${loadgenNode} (tsx)`,
    `harness: node ${process.version} (tsx)`,
  ]
  process.stdout.write(`Processes: ${procs.join('; ')}\n\n`)
  process.stdout.write(formatTable(results) + '\n\n')
  process.stdout.write(formatCpuPerMessage(results) + '\n\n')
  process.stdout.write(formatCpu(results) + '\n')
  if (profileDir) {
    const files = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'))
    const busiest = busiestProfile(files.map((f) => join(profileDir, f)), 30)
    if (busiest) process.stdout.write(`\nFieldgate CPU profile (all phases) ${busiest.file}:\n${formatSummary(busiest.summary)}\n`)
    else process.stdout.write(`\nno .cpuprofile written in ${profileDir}\n`)
  }
  const summary = { bench: 'broker', at: new Date().toISOString(), loadavg: { start: loadStart, end: loadEnd }, seconds: secs, runtimes: { ...runtimes, loadgen: loadgenNode, harness: process.version }, options: o, results, rounds }
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

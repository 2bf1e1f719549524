/**
 * Load-generator child process: `node --import tsx bench/lib/loadgen.ts '<spec json>'`.
 * Runs one phase against a broker in another process and prints `RESULT <json>` on stdout.
 */
import { runConnections, type ConnectionsSpec } from './connections.ts'
import { runLatency, type LatencySpec } from './latency.ts'
import { runThroughput, type ThroughputSpec } from './throughput.ts'

export type PhaseSpec = ThroughputSpec | LatencySpec | ConnectionsSpec

export const RESULT_PREFIX = 'RESULT '

function parseSpec(text: string | undefined): PhaseSpec {
  if (!text) throw new Error('loadgen: pass the phase spec as JSON in the first argument')
  const raw: unknown = JSON.parse(text)
  if (typeof raw !== 'object' || raw === null || !('kind' in raw)) throw new Error('loadgen: spec must be an object with a "kind"')
  const kind = (raw as { kind: unknown }).kind
  if (kind !== 'throughput' && kind !== 'latency' && kind !== 'connections') throw new Error(`loadgen: unknown kind ${String(kind)}`)
  // The parent builds specs from typed code; the shape check above guards against a wrong call.
  return raw as PhaseSpec
}

async function main(): Promise<void> {
  const spec = parseSpec(process.argv[2])
  const hardLimit = setTimeout(() => {
    process.stderr.write(`loadgen: ${spec.kind} phase exceeded its hard time limit\n`)
    process.exit(3)
  }, phaseLimitMs(spec))
  hardLimit.unref()
  let result: unknown
  if (spec.kind === 'throughput') result = await runThroughput(spec)
  else if (spec.kind === 'latency') result = await runLatency(spec)
  else result = await runConnections(spec)
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n')
  // Sockets were destroyed; exit without waiting on the broker to finish closing them.
  process.exit(0)
}

/** Upper bound on one phase's wall time, used by this child and by the parent that waits on it. */
export function phaseLimitMs(spec: PhaseSpec): number {
  if (spec.kind === 'connections') return spec.timeoutMs + spec.settleMs + 15_000
  return spec.warmupMs + spec.durationMs + 20_000
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`loadgen: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  })
}

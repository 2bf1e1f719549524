import type { ConnectionsResult } from './connections.ts'
import type { LatencyResult } from './latency.ts'
import type { BrokerKind } from './servers.ts'
import type { ThroughputResult } from './throughput.ts'

export type PhaseName = 'fanin0' | 'fanin1' | 'retained1' | 'fanout' | 'latency' | 'connections'
export const PHASES: readonly PhaseName[] = ['connections', 'fanin0', 'fanin1', 'retained1', 'fanout', 'latency']

export interface PhaseError {
  error: string
}

export type PhaseOutcome = ThroughputResult | LatencyResult | ConnectionsResult | PhaseError

export type BrokerResults = Partial<Record<PhaseName, PhaseOutcome>>

export type Results = Partial<Record<BrokerKind, BrokerResults>>

/** A numeric field of a phase's result, or undefined if the phase failed or did not run. */
function field(o: PhaseOutcome | undefined, key: string): number | undefined {
  if (!o || 'error' in o) return undefined
  const v: unknown = (o as unknown as Record<string, unknown>)[key]
  return typeof v === 'number' ? v : undefined
}

/** The best of several runs of one phase: highest rate, or lowest p99 for latency. Errors only if all failed. */
export function best(phase: PhaseName, outs: PhaseOutcome[]): PhaseOutcome {
  const good = outs.filter((o) => !('error' in o))
  if (!good.length) return outs[0] ?? { error: 'not run' }
  const key = phase === 'latency' ? 'p99Ms' : phase === 'connections' ? 'connectsPerSec' : 'deliveriesPerSec'
  const sign = phase === 'latency' ? -1 : 1
  return good.reduce((a, b) => ((field(b, key) ?? -Infinity) * sign > (field(a, key) ?? -Infinity) * sign ? b : a))
}

interface Row {
  label: string
  better: 'higher' | 'lower'
  digits: number
  get(r: BrokerResults): number | undefined
  /** Targets from issue 2; `vsMosq`/`vsAedes` are the required ratios Fieldgate/peer (in the `better` direction). */
  vsMosq?: number
  vsAedes?: number
  absolute?: { max: number; text: string }
}

const ROWS: Row[] = [
  { label: 'fan-in QoS 0, 10 pub -> 1 sub (msg/s)', better: 'higher', digits: 0, get: (r) => field(r.fanin0, 'deliveriesPerSec'), vsMosq: 1, vsAedes: 2 },
  { label: 'fan-in QoS 1, 10 pub -> 1 sub (msg/s)', better: 'higher', digits: 0, get: (r) => field(r.fanin1, 'deliveriesPerSec'), vsMosq: 1, vsAedes: 2 },
  { label: 'retained QoS 1 fan-in (msg/s)', better: 'higher', digits: 0, get: (r) => field(r.retained1, 'deliveriesPerSec'), vsMosq: 1 },
  { label: 'fan-out QoS 0, 1 pub -> 100 sub (deliv/s)', better: 'higher', digits: 0, get: (r) => field(r.fanout, 'deliveriesPerSec'), vsMosq: 1, vsAedes: 2 },
  { label: 'latency QoS 1 @1k msg/s p50 (ms)', better: 'lower', digits: 3, get: (r) => field(r.latency, 'p50Ms'), vsMosq: 1 },
  { label: 'latency QoS 1 @1k msg/s p99 (ms)', better: 'lower', digits: 3, get: (r) => field(r.latency, 'p99Ms'), vsMosq: 1, vsAedes: 2 },
  { label: 'connect rate (conn/s)', better: 'higher', digits: 0, get: (r) => field(r.connections, 'connectsPerSec') },
  { label: 'RSS before the idle connections (MB)', better: 'lower', digits: 1, get: (r) => mb(field(r.connections, 'rssBeforeKb')) },
  {
    label: 'RSS per idle connection (KB)',
    better: 'lower',
    digits: 2,
    get: (r) => field(r.connections, 'kbPerConnection'),
    absolute: { max: 5, text: '< 5 KB' },
  },
]

function mb(kb: number | undefined): number | undefined {
  return kb === undefined ? undefined : kb / 1024
}

/** Results within this fraction of a target ratio count as meeting it (run-to-run noise here is ~5%). */
const TOLERANCE = 0.05

function fmt(n: number | undefined, digits: number): string {
  if (n === undefined || Number.isNaN(n)) return '-'
  return digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits)
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 || Number.isNaN(a) || Number.isNaN(b) ? undefined : a / b
}

function verdict(row: Row, fg: number | undefined, mq: number | undefined, ae: number | undefined): string {
  if (fg === undefined || Number.isNaN(fg)) return '-'
  const parts: string[] = []
  // "Better by k×": higher-is-better needs fg/peer >= k, lower-is-better needs peer/fg >= k.
  const check = (peer: number | undefined, k: number, name: string): void => {
    const r = row.better === 'higher' ? ratio(fg, peer) : ratio(peer, fg)
    if (r === undefined) return
    const text = k === 1 ? `${row.better === 'higher' ? '>=' : '<='} ${name}` : `${k}x ${name}`
    parts.push(`${r >= k * (1 - TOLERANCE) ? 'ok' : 'MISS'} ${text}`)
  }
  if (row.vsMosq) check(mq, row.vsMosq, 'Mosq')
  if (row.vsAedes) check(ae, row.vsAedes, 'Aedes')
  if (row.absolute) parts.push(`${fg < row.absolute.max ? 'ok' : 'MISS'} ${row.absolute.text}`)
  return parts.join(', ') || 'info'
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n)
}

/** The summary table: one row per figure, one column per broker, ratios and the targets. */
export function formatTable(results: Results): string {
  const fg = results.fieldgate ?? {}
  const mq = results.mosquitto ?? {}
  const ae = results.aedes ?? {}
  const head = [pad('figure', 42), pad('Fieldgate', 11, true), pad('Mosquitto', 11, true), pad('Aedes', 11, true), pad('FG/Mosq', 8, true), pad('FG/Aedes', 9, true), '  target']
  const lines = [head.join(' '), '-'.repeat(120)]
  for (const row of ROWS) {
    const a = row.get(fg)
    const m = row.get(mq)
    const e = row.get(ae)
    const rm = ratio(a, m)
    const re = ratio(a, e)
    lines.push(
      [
        pad(row.label, 42),
        pad(fmt(a, row.digits), 11, true),
        pad(fmt(m, row.digits), 11, true),
        pad(fmt(e, row.digits), 11, true),
        pad(rm === undefined ? '-' : rm.toFixed(2), 8, true),
        pad(re === undefined ? '-' : re.toFixed(2), 9, true),
        '  ' + verdict(row, a, m, e),
      ].join(' '),
    )
  }
  return lines.join('\n')
}

/** CPU use per phase: a generator near 100% of a core means the figure is bounded by the client, not the broker. */
export function formatCpu(results: Results): string {
  const lines = [`${pad('phase', 12)} ${pad('broker', 10)} ${pad('broker CPU%', 12, true)} ${pad('loadgen CPU%', 13, true)}  notes`]
  for (const phase of PHASES) {
    for (const [kind, r] of Object.entries(results) as [BrokerKind, BrokerResults][]) {
      const p = r[phase]
      if (!p) continue
      if ('error' in p) {
        lines.push(`${pad(phase, 12)} ${pad(kind, 10)} ${pad('-', 12, true)} ${pad('-', 13, true)}  ERROR ${p.error.split('\n')[0] ?? ''}`)
        continue
      }
      const notes: string[] = []
      if (p.genCpuPct >= 90 && p.brokerCpuPct < 90) notes.push('load generator saturated, broker not: figure is a lower bound')
      else if (p.genCpuPct >= 90) notes.push('broker and load generator both near a full core: figure may be a little low')
      if ('lost' in p && p.lost > 0) notes.push(`${p.lost} lost`)
      if ('malformed' in p && p.malformed > 0) notes.push(`${p.malformed} malformed deliveries`)
      if ('failed' in p && p.failed > 0) notes.push(`${p.failed} failed: ${p.firstError ?? ''}`)
      lines.push(`${pad(phase, 12)} ${pad(kind, 10)} ${pad(p.brokerCpuPct.toFixed(1), 12, true)} ${pad(p.genCpuPct.toFixed(1), 13, true)}  ${notes.join('; ')}`)
    }
  }
  return lines.join('\n')
}

/** Broker CPU per delivered message in µs (user + system from /proc/<pid>/stat over the measured interval). */
export function cpuPerMessageUs(o: PhaseOutcome | undefined): number | undefined {
  const cpu = field(o, 'brokerCpuMs')
  const n = field(o, 'delivered')
  return cpu === undefined || n === undefined || n <= 0 ? undefined : (cpu * 1000) / n
}

const CPU_ROWS: Array<{ phase: PhaseName; label: string }> = [
  { phase: 'fanin0', label: 'live QoS 0 fan-in (per delivery)' },
  { phase: 'fanin1', label: 'QoS 1 fan-in (per delivery, PUBACKs both ways)' },
  { phase: 'retained1', label: 'retained QoS 1 fan-in (per delivery)' },
  { phase: 'fanout', label: 'fan-out QoS 0 (per delivery)' },
  { phase: 'latency', label: 'QoS 1 at 1,000 msg/s (per delivery)' },
]

/** µs of broker CPU per delivered message, per phase: on a Pi, CPU and not loopback bandwidth is the limit. */
export function formatCpuPerMessage(results: Results): string {
  const fg = results.fieldgate ?? {}
  const mq = results.mosquitto ?? {}
  const ae = results.aedes ?? {}
  const head = [pad('broker CPU per message (µs)', 48), pad('Fieldgate', 10, true), pad('Mosquitto', 10, true), pad('Aedes', 10, true), pad('FG/Mosq', 8, true), pad('FG/Aedes', 9, true)]
  const lines = [head.join(' '), '-'.repeat(100)]
  for (const row of CPU_ROWS) {
    const a = cpuPerMessageUs(fg[row.phase])
    const m = cpuPerMessageUs(mq[row.phase])
    const e = cpuPerMessageUs(ae[row.phase])
    if (a === undefined && m === undefined && e === undefined) continue
    const rm = ratio(a, m)
    const re = ratio(a, e)
    lines.push(
      [pad(row.label, 48), pad(fmt(a, 2), 10, true), pad(fmt(m, 2), 10, true), pad(fmt(e, 2), 10, true), pad(rm === undefined ? '-' : rm.toFixed(2), 8, true), pad(re === undefined ? '-' : re.toFixed(2), 9, true)].join(' '),
    )
  }
  return lines.join('\n')
}

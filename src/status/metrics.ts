import type { Reading, Status } from '../core/index.ts'
import { isSecretKey } from './scrub.ts'
import type { SystemInfo } from './types.ts'

export interface MetricsInput {
  sources: () => Record<string, Status>
  readings: () => Iterable<Reading>
  system: () => SystemInfo
  uptimeSeconds: () => number
  info: { version: string; gatewayId: string }
  /** Event-loop delay over the last minute; null figures until measured. */
  loop?: () => { max_ms: number | null; p99_ms: number | null; mean_ms: number | null }
}

export interface Metrics {
  contentType: string
  render(): Promise<string>
}

const HEALTH_VALUE = { ok: 0, degraded: 1, down: 2 } as const
const MAX_SERIES = 5000

/** Flattens numeric (and boolean) details into dotted keys: { store: { depth: 3 } } → store.depth = 3. */
export function numericDetails(details: Record<string, unknown>, prefix = '', out: Array<[string, number]> = [], depth = 0): Array<[string, number]> {
  if (depth > 6) return out
  for (const [k, v] of Object.entries(details)) {
    if (isSecretKey(k) || out.length >= MAX_SERIES) continue
    const key = prefix ? `${prefix}.${k}` : k
    if (typeof v === 'number' && Number.isFinite(v)) out.push([key, v])
    else if (typeof v === 'boolean') out.push([key, v ? 1 : 0])
    else if (typeof v === 'bigint') out.push([key, Number(v)])
    else if (v && typeof v === 'object' && !Array.isArray(v)) numericDetails(v as Record<string, unknown>, key, out, depth + 1)
  }
  return out
}

/**
 * Prometheus text via prom-client, on its own registry (never the global one, so two servers in a
 * test or a reload do not collide). prom-client is loaded on the first scrape to keep start-up fast.
 */
export async function createMetrics(input: MetricsInput): Promise<Metrics> {
  const prom = await import('prom-client')
  const registry = new prom.Registry()
  registry.setDefaultLabels({ gateway: input.info.gatewayId })
  prom.collectDefaultMetrics({ register: registry, prefix: 'fieldgate_' })
  // prom-client's event-loop histogram starts when the first scrape creates it, so that scrape shows
  // its empty state (min 9223372036 s, mean NaN). The status server's own monitor runs from start.
  for (const name of ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99']) registry.removeSingleMetric(`fieldgate_nodejs_eventloop_lag_${name}_seconds`)
  const loopGauge = (name: string, help: string, pick: (f: { max_ms: number | null; p99_ms: number | null; mean_ms: number | null }) => number | null): void => {
    new prom.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        const v = input.loop ? pick(input.loop()) : null
        if (v !== null) this.set(v / 1000)
      },
    })
  }
  loopGauge('fieldgate_eventloop_delay_max_seconds', 'Longest event-loop delay within the last 30-60 s (absent until measured).', (f) => f.max_ms)
  loopGauge('fieldgate_eventloop_delay_p99_seconds', '99th percentile event-loop delay in the current window (absent until measured).', (f) => f.p99_ms)
  loopGauge('fieldgate_eventloop_delay_mean_seconds', 'Mean event-loop delay in the current window (absent until measured).', (f) => f.mean_ms)

  new prom.Gauge({
    name: 'fieldgate_info',
    help: 'Constant 1 labelled with the running version.',
    labelNames: ['version'],
    registers: [registry],
    collect() {
      this.set({ version: input.info.version }, 1)
    },
  })
  new prom.Gauge({
    name: 'fieldgate_uptime_seconds',
    help: 'Seconds since the gateway started.',
    registers: [registry],
    collect() {
      this.set(input.uptimeSeconds())
    },
  })
  new prom.Gauge({
    name: 'fieldgate_source_health',
    help: 'Health of each subsystem: 0 ok, 1 degraded, 2 down.',
    labelNames: ['source'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [name, s] of Object.entries(input.sources())) this.set({ source: name }, HEALTH_VALUE[s.health] ?? 2)
    },
  })
  new prom.Gauge({
    name: 'fieldgate_status_value',
    help: "Numeric fields of each subsystem's status details (key is the dotted path).",
    labelNames: ['source', 'key'],
    registers: [registry],
    collect() {
      this.reset()
      for (const [name, s] of Object.entries(input.sources())) {
        for (const [key, v] of numericDetails(s.details)) this.set({ source: name, key }, v)
      }
    },
  })
  new prom.Gauge({
    name: 'fieldgate_reading_value',
    help: 'Last numeric value of each device point.',
    labelNames: ['device', 'point', 'quality'],
    registers: [registry],
    collect() {
      this.reset()
      for (const r of input.readings()) {
        const v = typeof r.value === 'number' ? r.value : typeof r.value === 'boolean' ? Number(r.value) : null
        if (v !== null && Number.isFinite(v)) this.set({ device: r.device, point: r.point, quality: r.quality }, v)
      }
    },
  })
  const systemGauge = (name: string, help: string, pick: (s: SystemInfo) => number | null | undefined): void => {
    new prom.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = pick(input.system())
        if (typeof v === 'number') this.set(v)
      },
    })
  }
  systemGauge('fieldgate_system_load1', 'One-minute load average.', (s) => s.load[0])
  systemGauge('fieldgate_system_memory_free_bytes', 'Free memory of the host.', (s) => s.memory.free)
  systemGauge('fieldgate_system_disk_free_bytes', 'Free bytes on the data dir filesystem.', (s) => s.disk?.free)
  systemGauge('fieldgate_system_disk_used_bytes', 'Used bytes on the data dir filesystem.', (s) => s.disk?.used)
  systemGauge('fieldgate_system_temperature_celsius', 'SoC temperature.', (s) => s.temperature_c)

  return { contentType: registry.contentType, render: () => registry.metrics() }
}

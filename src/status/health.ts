import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import type { Health, Status } from '../core/index.ts'
import { scrubString } from './scrub.ts'

/**
 * The modules without which the gateway cannot do its job: no broker (or no listener open) means no
 * client and no driver reading gets in; a store that cannot write means nothing is kept for the
 * cloud. Devices and uplinks in trouble are what the gateway exists to ride out: degraded, not down.
 */
const CRITICAL = new Set(['broker', 'store'])

/** The event loop counts as wedged when one turn took this long within the last window. */
export const WEDGED_MS = 5000

export interface HealthReason {
  source: string
  health: Health
  reason?: string
}

export interface GatewayHealth {
  health: Health
  reasons: HealthReason[]
}

/**
 * One verdict for /healthz and the page: `down` (503) only when a critical module is down, no
 * listener is open or the event loop is wedged; any other source not ok makes it `degraded` (200).
 */
export function gatewayHealth(
  sources: Record<string, Status>,
  loop: { maxDelayMs: number } | null = null,
  devices: Record<string, { health: Health; state: string; configured?: boolean; reason?: string }> | null = null,
): GatewayHealth {
  let health: Health = 'ok'
  const reasons: HealthReason[] = []
  const add = (source: string, h: Health, reason: string | undefined): void => {
    reasons.push({ source, health: h, ...(reason === undefined ? {} : { reason: scrubString(reason) }) })
    if (h === 'down') health = 'down'
    else if (health === 'ok') health = 'degraded'
  }
  for (const [source, s] of Object.entries(sources)) {
    const listeners = source === 'broker' ? (s.details as { listeners?: unknown }).listeners : undefined
    if (source === 'broker' && s.health !== 'down' && Array.isArray(listeners) && listeners.length === 0) {
      add(source, 'down', 'no MQTT listener is open: no client can connect')
      continue
    }
    // Given the merged device view, each device speaks for itself (a stale point counts too).
    if (s.health === 'ok' || (devices && source === 'drivers')) continue
    add(source, s.health === 'down' && !CRITICAL.has(source) ? 'degraded' : s.health, s.reason)
  }
  for (const [id, d] of Object.entries(devices ?? {})) if (d.health !== 'ok' && d.configured !== false) add(`device:${id}`, 'degraded', d.reason ?? d.state)
  if (loop && loop.maxDelayMs >= WEDGED_MS) add('process', 'down', `event loop blocked for ${(loop.maxDelayMs / 1000).toFixed(1)} s within the last minute`)
  return { health, reasons }
}

/**
 * Event-loop delay over a sliding window of two halves (so a block is remembered 30–60 s), from
 * Node's histogram; `null` figures until the histogram has a sample, never its empty-state extremes.
 */
export class LoopMonitor {
  private readonly histogram: IntervalHistogram
  private prevMax = 0
  private timer: NodeJS.Timeout | null = null

  constructor(private readonly windowMs = 30_000) {
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  }

  start(): void {
    if (this.timer) return
    this.histogram.enable()
    this.timer = setInterval(() => {
      this.prevMax = this.histogram.count > 0 ? lag(this.histogram.max) : 0
      this.histogram.reset()
    }, this.windowMs)
    this.timer.unref()
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.histogram.disable()
  }

  /** Longest loop delay (ms) in the current and previous window. */
  get maxDelayMs(): number {
    return Math.max(this.prevMax, this.histogram.count > 0 ? lag(this.histogram.max) : 0)
  }

  /** For /status and /metrics: null until measured. */
  figures(): { max_ms: number | null; p99_ms: number | null; mean_ms: number | null } {
    if (this.histogram.count === 0) return { max_ms: this.prevMax > 0 ? round(this.prevMax) : null, p99_ms: null, mean_ms: null }
    return { max_ms: round(this.maxDelayMs), p99_ms: round(lag(this.histogram.percentile(99))), mean_ms: round(lag(this.histogram.mean)) }
  }
}

const round = (n: number): number => Math.round(n * 10) / 10
/** Node's samples are the whole timer interval: the delay beyond the sampling resolution is the stall. */
const RESOLUTION_MS = 20
const lag = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS)

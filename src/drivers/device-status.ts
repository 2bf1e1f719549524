import type { Clock, Reading, Status } from '../core/index.ts'
import type { DeviceState, StateListener } from './types.ts'

interface PointStatus {
  value: Reading['value'] | null
  ts: number | null
  quality: Reading['quality'] | null
  error: string | null
}

/** Bookkeeping every driver shares: state, per-point last good value, counts, last error, poll latency. */
export class DeviceStatus {
  state: DeviceState = 'stopped'
  reason: string | undefined
  successes = 0
  errors = 0
  garbage = 0
  lastError: { message: string; at: number; code?: string } | null = null
  pollLatencyMs: number | null = null
  readonly points = new Map<string, PointStatus>()
  readonly extra: Record<string, unknown> = {}
  private listeners: StateListener[] = []

  constructor(
    readonly driver: string,
    private readonly clock: Clock,
  ) {}

  onState(cb: StateListener): void {
    this.listeners.push(cb)
  }

  setState(state: DeviceState, reason?: string): void {
    if (state === this.state && reason === this.reason) return
    this.state = state
    this.reason = reason
    for (const cb of this.listeners) cb(state, reason)
  }

  good(r: Reading): void {
    this.successes++
    this.points.set(r.point, { value: r.value, ts: r.ts, quality: 'good', error: null })
  }

  failed(message: string, code?: string, point?: string): void {
    this.errors++
    this.lastError = { message, at: this.clock.now(), ...(code ? { code } : {}) }
    if (point) {
      const prev = this.points.get(point)
      this.points.set(point, { value: prev?.value ?? null, ts: prev?.ts ?? null, quality: 'error', error: message })
    }
  }

  status(): Status {
    const health = this.state === 'running' ? 'ok' : this.state === 'error' || this.state === 'starting' ? 'degraded' : 'down'
    return {
      health,
      ...(this.reason ? { reason: this.reason } : {}),
      details: {
        driver: this.driver,
        state: this.state,
        successes: this.successes,
        errors: this.errors,
        garbage: this.garbage,
        lastError: this.lastError,
        pollLatencyMs: this.pollLatencyMs,
        points: Object.fromEntries(this.points),
        ...this.extra,
      },
    }
  }
}

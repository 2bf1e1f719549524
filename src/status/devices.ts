import type { Health, Reading, Status } from '../core/index.ts'
import type { DeviceView } from './state.ts'

export interface PointView {
  value: Reading['value'] | null
  unit?: string
  ts: number | null
  quality: Reading['quality'] | null
  error?: string
}

/** One device as /status shows it: the only place its state and points appear. */
export interface DeviceSnapshot {
  state: string
  health: Health
  /** False for a device the running config no longer has (removed or disabled by a reload): shown, but not part of the verdict. */
  configured: boolean
  reason?: string
  /** When the state was last seen changing (null when it has not changed since the page server started). */
  since: number | null
  driver?: string
  counts?: { polls_ok: number; polls_failed: number; garbage: number }
  poll_latency_ms?: number | null
  last_error?: { message: string; at: number; code?: string } | null
  points: Record<string, PointView>
}

type DriverEntry = {
  health?: Health
  reason?: string
  state?: string
  driver?: string
  successes?: number
  errors?: number
  garbage?: number
  pollLatencyMs?: number | null
  lastError?: { message: string; at: number; code?: string } | null
  points?: Record<string, { value: Reading['value'] | null; ts: number | null; quality: Reading['quality'] | null; error: string | null }>
}

const BAD = /^(down|error|failed|stopped|disconnected|offline|closed|unavailable)$/i

function healthOfState(state: string): Health {
  if (state === 'running') return 'ok'
  if (BAD.test(state)) return state === 'error' ? 'degraded' : 'down'
  return 'degraded'
}

/**
 * Merges the drivers' own report (the truth about state at this instant) with what the event stream
 * taught the server (units, and `stale` quality, which only the host's stale timer knows). Per point
 * the newer reading wins; at equal time the event's quality wins, because a stale mark reuses the last
 * reading's time. Devices no longer running (removed by a reload) keep their last known state.
 */
export function mergeDevices(drivers: Status | undefined, events: Map<string, DeviceView>): Record<string, DeviceSnapshot> {
  const out: Record<string, DeviceSnapshot> = {}
  const reported = ((drivers?.details as { devices?: Record<string, DriverEntry> } | undefined)?.devices ?? {}) as Record<string, DriverEntry>
  const ids = new Set([...Object.keys(reported), ...events.keys()])
  for (const id of [...ids].sort()) {
    const r = reported[id]
    const e = events.get(id)
    const state = r?.state ?? e?.state ?? 'unknown'
    const points: Record<string, PointView> = {}
    for (const [name, p] of Object.entries(r?.points ?? {})) {
      points[name] = { value: p.value, ts: p.ts, quality: p.quality, ...(p.error ? { error: p.error } : {}) }
    }
    for (const [name, p] of Object.entries(e?.points ?? {})) {
      const have = points[name]
      const unit = p.unit === undefined ? {} : { unit: p.unit }
      if (p.quality === 'error' && have && (have.ts === null || p.ts >= have.ts)) {
        // An error reading carries no value (Modbus and serial send 0): keep the host's last good value and its time.
        points[name] = { value: have.value, ts: have.ts, quality: 'error', ...unit, ...(p.error ? { error: p.error } : have.error ? { error: have.error } : {}) }
      } else if (!have || have.ts === null || p.ts >= have.ts) points[name] = { value: p.value, ts: p.ts, quality: p.quality, ...unit, ...(p.error ? { error: p.error } : {}) }
      else points[name] = { ...have, ...unit }
    }
    const configured = drivers === undefined || r !== undefined
    let reason = r ? r.reason : configured ? e?.reason : `not in the running config (removed or disabled by a reload)${e?.reason ? `; ${e.reason}` : ''}`
    let health: Health = r?.health ?? (e ? healthOfState(e.state) : 'degraded')
    const silent = Object.entries(points).filter(([, p]) => p.quality === 'stale' || p.quality === 'error').map(([n]) => n)
    if (health === 'ok' && silent.length > 0) {
      health = 'degraded'
      reason ??= `no fresh value for ${silent.join(', ')}`
    }
    out[id] = {
      state,
      health,
      configured,
      ...(reason ? { reason } : {}),
      since: e && e.state === state ? e.since : null,
      ...(r?.driver ? { driver: r.driver } : {}),
      ...(r ? { counts: { polls_ok: r.successes ?? 0, polls_failed: r.errors ?? 0, garbage: r.garbage ?? 0 }, poll_latency_ms: r.pollLatencyMs ?? null, last_error: r.lastError ?? null } : {}),
      points,
    }
  }
  return out
}

/** The drivers source without its per-device entries, which /status shows once, under `devices`. */
export function driversSummary(drivers: Status): Status {
  const { devices, ...rest } = drivers.details as { devices?: Record<string, unknown> }
  return { ...drivers, details: { ...rest, device_count: devices ? Object.keys(devices).length : 0 } }
}

import type { Health, Reading, Status } from '../core/index.ts'
import { scrubString } from './scrub.ts'
import type { StatusEvent } from './types.ts'

export interface DeviceView {
  state: string
  reason?: string
  since: number | null
  source?: string
  points: Record<string, { value: Reading['value']; unit?: string; ts: number; quality: Reading['quality']; error?: string }>
}

export interface RecentEntry {
  ts: number
  source: string
  device?: string
  state: string
  reason?: string
}

const BAD_STATES = /^(down|error|failed|stopped|disconnected|offline|closed|unavailable)$/i

/** States worth listing under recent problems (a "reloaded" with a detail is not one). */
export function isProblem(state: string): boolean {
  return isBadState(state) || state === 'degraded' || /refused|error|fail|lost/i.test(state)
}

/** True when a state name means "not working" (red on the page). */
export function isBadState(state: string): boolean {
  return BAD_STATES.test(state)
}

/**
 * What the server remembers between requests: each device's last value per point and last state,
 * and a short list of recent problems, all bounded so a chatty device cannot grow memory.
 */
export class StatusState {
  readonly devices = new Map<string, DeviceView>()
  private readonly recent: RecentEntry[] = []
  private points = 0

  constructor(
    private readonly limits = { maxPoints: 2000, maxDevices: 500, maxRecent: 50 },
    private readonly now: () => number = Date.now,
  ) {}

  apply(e: StatusEvent): void {
    if (e.type === 'reading') this.reading(e.reading)
    else this.state(e)
  }

  recentProblems(): RecentEntry[] {
    return [...this.recent]
  }

  *readings(): Iterable<Reading> {
    for (const [device, d] of this.devices) {
      for (const [point, p] of Object.entries(d.points)) yield { device, point, ...p }
    }
  }

  note(entry: RecentEntry): void {
    this.recent.push({ ...entry, reason: entry.reason === undefined ? undefined : scrubString(entry.reason) })
    if (this.recent.length > this.limits.maxRecent) this.recent.splice(0, this.recent.length - this.limits.maxRecent)
  }

  private device(id: string): DeviceView | null {
    let d = this.devices.get(id)
    if (!d) {
      if (this.devices.size >= this.limits.maxDevices) return null
      d = { state: 'unknown', since: null, points: {} }
      this.devices.set(id, d)
    }
    return d
  }

  private reading(r: Reading): void {
    const d = this.device(r.device)
    if (!d) return
    const known = r.point in d.points
    if (!known && this.points >= this.limits.maxPoints) return
    if (!known) this.points++
    const prev = d.points[r.point]
    const prevQuality = prev?.quality
    // A failed read carries no measured value (Modbus and serial send 0): the last good value and its time stay.
    const kept = r.quality === 'error' && prev ? { value: prev.value, ts: prev.ts } : { value: r.value, ts: r.ts }
    d.points[r.point] = { ...kept, quality: r.quality, ...(r.unit ? { unit: r.unit } : {}), ...(r.error ? { error: r.error } : {}) }
    // Record only the change into error, not every failed poll.
    if (r.quality === 'error' && prevQuality !== 'error') {
      this.note({ ts: r.ts, source: `device:${r.device}`, device: r.device, state: 'error', reason: `${r.point}: ${r.error ?? 'read failed'}` })
    }
  }

  private state(e: Extract<StatusEvent, { type: 'state' }>): void {
    const ts = e.ts ?? this.now()
    if (e.device !== undefined) {
      const d = this.device(e.device)
      if (d) {
        d.state = e.state
        d.since = ts
        d.source = e.source
        if (e.reason === undefined) delete d.reason
        else d.reason = scrubString(e.reason)
      }
    }
    if (isProblem(e.state)) {
      this.note({ ts, source: e.source, ...(e.device === undefined ? {} : { device: e.device }), state: e.state, ...(e.reason === undefined ? {} : { reason: e.reason }) })
    }
  }
}

export function overallHealth(sources: Record<string, Status>): { health: Health; reasons: Array<{ source: string; health: Health; reason?: string }> } {
  let health: Health = 'ok'
  const reasons: Array<{ source: string; health: Health; reason?: string }> = []
  for (const [source, s] of Object.entries(sources)) {
    if (s.health === 'ok') continue
    reasons.push({ source, health: s.health, ...(s.reason === undefined ? {} : { reason: scrubString(s.reason) }) })
    if (s.health === 'down') health = 'down'
    else if (health === 'ok') health = 'degraded'
  }
  return { health, reasons }
}

import type { Reading } from '../core/index.ts'

export interface ReportRule {
  /** Undefined: publish every reading. Otherwise report by exception with this deadband. */
  deadband?: number
  /** With a deadband: publish at least this often (ms); 0 = never forced. */
  maxSilence: number
  /** A good value older than this (ms) is republished once as stale. */
  staleAfter: number
}

interface Track {
  published?: { value: Reading['value']; quality: Reading['quality']; at: number }
  lastGood?: Reading
  staleSent: boolean
}

/**
 * A change of at least `deadband`. Differences of decimal readings carry binary rounding noise
 * (21.2 - 21.1 = 0.0999999999999979), so the comparison allows 1e-9 of the magnitude involved: far
 * below any sensor's resolution, far above float64 noise. A deadband of 0 publishes any change.
 */
export function movedBy(from: number, to: number, deadband: number): boolean {
  if (to === from) return false
  if (deadband === 0) return true
  const tolerance = 1e-9 * Math.max(Math.abs(from), Math.abs(to), deadband)
  return Math.abs(to - from) + tolerance >= deadband
}

/** Pure report-by-exception and staleness bookkeeping per point; the caller owns time. */
export class ReportFilter {
  private tracks = new Map<string, Track>()

  /** Decides whether `r` should be published now, and records it if so. */
  offer(r: Reading, rule: ReportRule, now: number): boolean {
    const key = `${r.device}\u0000${r.point}`
    let t = this.tracks.get(key)
    if (!t) this.tracks.set(key, (t = { staleSent: false }))
    if (r.quality === 'good') {
      t.lastGood = r
      t.staleSent = false
    }
    const p = t.published
    let publish = true
    if (p && rule.deadband !== undefined && p.quality === r.quality) {
      const changed = typeof r.value === 'number' && typeof p.value === 'number' ? movedBy(p.value, r.value, rule.deadband) : r.value !== p.value
      const silent = rule.maxSilence > 0 && now - p.at >= rule.maxSilence
      publish = changed || silent
    }
    if (publish) t.published = { value: r.value, quality: r.quality, at: now }
    return publish
  }

  /** Points whose last good value has aged past staleAfter since it was measured; each is returned once. */
  stale(now: number, ruleOf: (device: string, point: string) => ReportRule | undefined): Reading[] {
    const out: Reading[] = []
    for (const t of this.tracks.values()) {
      const g = t.lastGood
      if (!g || t.staleSent || t.published?.quality === 'error') continue
      const rule = ruleOf(g.device, g.point)
      if (!rule || rule.staleAfter <= 0 || now - g.ts < rule.staleAfter) continue
      t.staleSent = true
      const r: Reading = { ...g, quality: 'stale' }
      t.published = { value: r.value, quality: 'stale', at: now }
      out.push(r)
    }
    return out
  }

  lastGood(device: string, point: string): Reading | undefined {
    return this.tracks.get(`${device}\u0000${point}`)?.lastGood
  }
}

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
      const changed =
        typeof r.value === 'number' && typeof p.value === 'number' ? Math.abs(r.value - p.value) > rule.deadband || (rule.deadband === 0 && r.value !== p.value) : r.value !== p.value
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

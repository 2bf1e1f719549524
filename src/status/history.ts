/**
 * The last hour of a numeric series in fixed time buckets (min, max and last value per bucket), in
 * four preallocated Float64Arrays: memory per series is fixed (4 × buckets × 8 bytes) however often
 * values arrive. A slot is reused when its bucket number is an hour old.
 */
export class Ring {
  private readonly key: Float64Array
  private readonly min: Float64Array
  private readonly max: Float64Array
  private readonly last: Float64Array
  private newest = -Infinity

  constructor(
    readonly bucketMs: number,
    readonly buckets: number,
  ) {
    // NaN never equals a bucket number, so an unused slot is never taken for bucket -1.
    this.key = new Float64Array(buckets).fill(NaN)
    this.min = new Float64Array(buckets)
    this.max = new Float64Array(buckets)
    this.last = new Float64Array(buckets)
  }

  /** Bytes held by the arrays; with the objects around them a point costs ~6.7 kB (bench/history.ts). */
  get bytes(): number {
    return 4 * this.buckets * 8
  }

  add(ts: number, v: number): void {
    if (!Number.isFinite(v) || !Number.isFinite(ts)) return
    const b = Math.floor(ts / this.bucketMs)
    // Older than the window the ring holds (a late reading): it would overwrite a newer bucket.
    if (b <= this.newest - this.buckets) return
    if (b > this.newest) this.newest = b
    const i = b % this.buckets
    if (this.key[i] !== b) {
      this.key[i] = b
      this.min[i] = v
      this.max[i] = v
      this.last[i] = v
      return
    }
    if (v < (this.min[i] as number)) this.min[i] = v
    if (v > (this.max[i] as number)) this.max[i] = v
    this.last[i] = v
  }

  /**
   * Buckets of the last `buckets × bucketMs` before `now`, oldest first, as [start ms, min, max, last];
   * buckets without a value are left out (a gap on the chart, not a zero).
   */
  series(now: number): Array<[number, number, number, number]> {
    const nowB = Math.floor(now / this.bucketMs)
    const out: Array<[number, number, number, number]> = []
    for (let b = nowB - this.buckets + 1; b <= nowB; b++) {
      const i = ((b % this.buckets) + this.buckets) % this.buckets
      if (this.key[i] === b) out.push([b * this.bucketMs, this.min[i] as number, this.max[i] as number, this.last[i] as number])
    }
    return out
  }
}

/** 20 s buckets over one hour: 180 buckets, 5,760 bytes of arrays per point. */
export const POINT_BUCKET_MS = 20_000
export const POINT_BUCKETS = 180
/** Uplink figures are sampled every 10 s (one hour: 360 buckets). */
export const UPLINK_BUCKET_MS = 10_000
export const UPLINK_BUCKETS = 360

/** One ring per numeric device point, bounded in count; booleans count as 0/1, strings are not charted. */
export class PointHistory {
  private readonly rings = new Map<string, Ring>()

  constructor(private readonly maxSeries = 2000) {}

  get size(): number {
    return this.rings.size
  }

  get bytes(): number {
    let n = 0
    for (const r of this.rings.values()) n += r.bytes
    return n
  }

  add(device: string, point: string, ts: number, value: unknown): void {
    const v = typeof value === 'number' ? value : typeof value === 'boolean' ? Number(value) : NaN
    if (!Number.isFinite(v)) return
    const k = `${device}\u0000${point}`
    let r = this.rings.get(k)
    if (!r) {
      if (this.rings.size >= this.maxSeries) return
      r = new Ring(POINT_BUCKET_MS, POINT_BUCKETS)
      this.rings.set(k, r)
    }
    r.add(ts, v)
  }

  /** Last value per bucket for every point (for sparklines): start of the first bucket, then one entry per bucket, null where empty. */
  sparklines(now: number): { start: number; step: number; points: Record<string, Record<string, Array<number | null>>> } {
    const nowB = Math.floor(now / POINT_BUCKET_MS)
    const start = (nowB - POINT_BUCKETS + 1) * POINT_BUCKET_MS
    const points: Record<string, Record<string, Array<number | null>>> = {}
    for (const [k, r] of this.rings) {
      const [device, point] = k.split('\u0000') as [string, string]
      const row: Array<number | null> = new Array<number | null>(POINT_BUCKETS).fill(null)
      for (const [t, , , last] of r.series(now)) row[Math.round((t - start) / POINT_BUCKET_MS)] = last
      ;(points[device] ??= {})[point] = row
    }
    return { start, step: POINT_BUCKET_MS, points }
  }

  series(device: string, point: string, now: number): Array<[number, number, number, number]> | null {
    return this.rings.get(`${device}\u0000${point}`)?.series(now) ?? null
  }
}

/** Backlog depth and messages sent per second of each uplink, sampled from its status. */
export class UplinkHistory {
  private readonly rings = new Map<string, { backlog: Ring; rate: Ring; lastSent: number | null; lastAt: number }>()

  sample(now: number, uplinks: Record<string, { backlog: number | null; sent: number | null }>): void {
    for (const [name, u] of Object.entries(uplinks)) {
      let h = this.rings.get(name)
      if (!h) {
        if (this.rings.size >= 64) continue
        h = { backlog: new Ring(UPLINK_BUCKET_MS, UPLINK_BUCKETS), rate: new Ring(UPLINK_BUCKET_MS, UPLINK_BUCKETS), lastSent: null, lastAt: now }
        this.rings.set(name, h)
      }
      if (u.backlog !== null) h.backlog.add(now, u.backlog)
      // A counter that went backwards belongs to a restarted uplink (reload): no rate for that interval.
      if (u.sent !== null && h.lastSent !== null && u.sent >= h.lastSent && now > h.lastAt) h.rate.add(now, ((u.sent - h.lastSent) * 1000) / (now - h.lastAt))
      h.lastSent = u.sent
      h.lastAt = now
    }
  }

  series(now: number): Record<string, { backlog: Array<[number, number, number, number]>; rate: Array<[number, number, number, number]> }> {
    const out: Record<string, { backlog: Array<[number, number, number, number]>; rate: Array<[number, number, number, number]> }> = {}
    for (const [name, h] of this.rings) out[name] = { backlog: h.backlog.series(now), rate: h.rate.series(now) }
    return out
  }
}

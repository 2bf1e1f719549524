import type { Clock } from '../../core/clock.ts'

/**
 * Per-client publish rate as a token bucket: `rate` publishes per second with bursts of `burst`.
 * `admit` answers the broker's admitPublish: 0 = go on, n > 0 = pause reading this client for n ms
 * (the publish is charged and admitted afterwards, so nothing is dropped), -1 = the client is more
 * than `farOverMs` of refill behind: a v5 client gets 0x96 Message rate too high.
 */
interface Bucket {
  tokens: number
  at: number
  lastLogged: number
}

export interface RateEvent {
  key: string
  wait: number
}

export class PublishRateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  private readonly burst: number
  private lastSweep: number
  /** Admissions that had to wait or were refused. */
  limited = 0
  refused = 0

  constructor(
    private readonly rate: number,
    burst: number,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly onLimited: (e: RateEvent) => void = () => undefined,
    private readonly farOverMs = 10_000,
  ) {
    if (!(rate > 0)) throw new TypeError(`publish rate must be > 0, got ${rate}`)
    this.burst = Math.max(1, burst > 0 ? burst : Math.ceil(rate))
    this.lastSweep = clock.now()
  }

  admit(key: string): number {
    const now = this.clock.now()
    this.sweep(now)
    let b = this.buckets.get(key)
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, at: now, lastLogged: -Infinity }))
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000)
    b.at = now
    const wait = Math.ceil(((1 - b.tokens) * 1000) / this.rate)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    if (wait > this.farOverMs) {
      this.refused++
      this.note(key, b, now, -1)
      return -1
    }
    b.tokens -= 1
    this.limited++
    this.note(key, b, now, wait)
    return wait
  }

  get tracked(): number {
    return this.buckets.size
  }

  /** Once per client per minute: the log line for hitting the limit. */
  private note(key: string, b: Bucket, now: number, wait: number): void {
    if (now - b.lastLogged < 60_000) return
    b.lastLogged = now
    this.onLimited({ key, wait })
  }

  /** A bucket idle long enough to be full again is the same as no bucket. */
  private sweep(now: number): void {
    if (now - this.lastSweep < 60_000) return
    this.lastSweep = now
    const full = (this.burst * 1000) / this.rate + 60_000
    for (const [key, b] of this.buckets) if (now - b.at > full) this.buckets.delete(key)
  }
}

import type { Clock } from '../../core/clock.ts'

/**
 * Per-address backoff against password guessing. After `delayAfter` recent failures every answer to
 * that address waits (doubling, capped), successful or not, so a guesser cannot tell a slow "no" from
 * a fast "yes"; after `lockoutAfter` failures within `window` the address is refused outright until
 * old failures age out. An attempt counts from the moment it starts (`begin`): attempts still in flight
 * count as failures until `finish` says how they ended, so parallel guesses cannot run past the limit
 * (a success is then not counted). Memory is bounded by `maxTracked` addresses.
 */
export interface GuardOptions {
  window: number
  delayAfter: number
  lockoutAfter: number
  baseDelay: number
  maxDelay: number
  maxTracked: number
}

export const DEFAULT_GUARD: GuardOptions = {
  window: 600_000,
  delayAfter: 3,
  lockoutAfter: 30,
  baseDelay: 500,
  maxDelay: 5_000,
  maxTracked: 10_000,
}

export interface GuardDecision {
  /** Recent failures from this address. */
  failures: number
  /** ms to wait before answering. */
  delay: number
  /** Refuse without checking credentials: `lockoutAfter` recent failures. */
  locked: boolean
  /** Refuse without checking credentials: failures and attempts in flight reach `lockoutAfter` (try again soon). */
  busy: boolean
}

interface Tracked {
  /** Times of recent failures, oldest first. */
  stamps: number[]
  /** Attempts begun and not finished. */
  pending: number
}

export class FailureGuard {
  private readonly failures = new Map<string, Tracked>()
  private total = 0

  constructor(
    private readonly opts: GuardOptions,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  check(address: string): GuardDecision {
    const key = normalizeAddress(address)
    const n = this.recent(key)
    const pending = this.failures.get(key)?.pending ?? 0
    const { delayAfter, lockoutAfter, baseDelay, maxDelay } = this.opts
    // The delay follows finished failures only: logins that merely overlap are not slowed down.
    const delay = n < delayAfter ? 0 : Math.min(maxDelay, baseDelay * 2 ** Math.min(20, n - delayAfter))
    const locked = n >= lockoutAfter
    return { failures: n, delay, locked, busy: !locked && n + pending >= lockoutAfter }
  }

  /**
   * Starts an attempt from `address`: unless the decision says locked or busy, it is counted from now
   * on, and the caller must call `finish` once (whatever happens).
   */
  begin(address: string): GuardDecision {
    const d = this.check(address)
    if (!d.locked && !d.busy) this.entry(normalizeAddress(address)).pending++
    return d
  }

  /** Ends an attempt begun with `begin`; `failed` records a failure. Returns the recent failures. */
  finish(address: string, failed: boolean): number {
    const key = normalizeAddress(address)
    const t = this.failures.get(key)
    if (t && t.pending > 0) t.pending--
    return failed ? this.fail(address) : this.recent(key)
  }

  fail(address: string): number {
    const key = normalizeAddress(address)
    this.total++
    const list = this.entry(key).stamps
    list.push(this.clock.now())
    // Only the newest `lockoutAfter` stamps matter for any decision.
    if (list.length > this.opts.lockoutAfter) list.splice(0, list.length - this.opts.lockoutAfter)
    return this.recent(key)
  }

  private entry(key: string): Tracked {
    let t = this.failures.get(key)
    if (!t) {
      if (this.failures.size >= this.opts.maxTracked) this.evictOldest()
      this.failures.set(key, (t = { stamps: [], pending: 0 }))
    }
    return t
  }

  status(): { totalFailures: number; trackedAddresses: number; lockedAddresses: number } {
    let locked = 0
    for (const key of [...this.failures.keys()]) if (this.recent(key) >= this.opts.lockoutAfter) locked++
    return { totalFailures: this.total, trackedAddresses: this.failures.size, lockedAddresses: locked }
  }

  private recent(key: string): number {
    const t = this.failures.get(key)
    if (!t) return 0
    const list = t.stamps
    const since = this.clock.now() - this.opts.window
    let drop = 0
    while (drop < list.length && (list[drop] as number) <= since) drop++
    if (drop > 0) list.splice(0, drop)
    if (list.length === 0 && t.pending === 0) this.failures.delete(key)
    return list.length
  }

  /** Forgets the oldest address without attempts in flight (or the oldest, if all have some). */
  private evictOldest(): void {
    for (const [key, t] of this.failures) {
      if (t.pending === 0) {
        this.failures.delete(key)
        return
      }
    }
    const first = this.failures.keys().next()
    if (!first.done) this.failures.delete(first.value)
  }
}

/** `::ffff:10.0.0.5` and `10.0.0.5` are the same client. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

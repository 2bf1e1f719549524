import type { Clock } from '../../core/clock.ts'

/**
 * Per-address backoff against password guessing. After `delayAfter` recent failures every answer to
 * that address waits (doubling, capped), successful or not, so a guesser cannot tell a slow "no" from
 * a fast "yes"; after `lockoutAfter` failures within `window` the address is refused outright until
 * old failures age out. Memory is bounded by `maxTracked` addresses.
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
  /** Refuse without checking credentials. */
  locked: boolean
}

export class FailureGuard {
  private readonly failures = new Map<string, number[]>()
  private total = 0

  constructor(
    private readonly opts: GuardOptions,
    private readonly clock: Pick<Clock, 'now'>,
  ) {}

  check(address: string): GuardDecision {
    const n = this.recent(normalizeAddress(address))
    const { delayAfter, lockoutAfter, baseDelay, maxDelay } = this.opts
    const delay = n < delayAfter ? 0 : Math.min(maxDelay, baseDelay * 2 ** Math.min(20, n - delayAfter))
    return { failures: n, delay, locked: n >= lockoutAfter }
  }

  fail(address: string): number {
    const key = normalizeAddress(address)
    this.total++
    let list = this.failures.get(key)
    if (!list) {
      if (this.failures.size >= this.opts.maxTracked) this.evictOldest()
      this.failures.set(key, (list = []))
    }
    list.push(this.clock.now())
    // Only the newest `lockoutAfter` stamps matter for any decision.
    if (list.length > this.opts.lockoutAfter) list.splice(0, list.length - this.opts.lockoutAfter)
    return this.recent(key)
  }

  status(): { totalFailures: number; trackedAddresses: number; lockedAddresses: number } {
    let locked = 0
    for (const key of [...this.failures.keys()]) if (this.recent(key) >= this.opts.lockoutAfter) locked++
    return { totalFailures: this.total, trackedAddresses: this.failures.size, lockedAddresses: locked }
  }

  private recent(key: string): number {
    const list = this.failures.get(key)
    if (!list) return 0
    const since = this.clock.now() - this.opts.window
    let drop = 0
    while (drop < list.length && (list[drop] as number) <= since) drop++
    if (drop > 0) list.splice(0, drop)
    if (list.length === 0) this.failures.delete(key)
    return list.length
  }

  private evictOldest(): void {
    const first = this.failures.keys().next()
    if (!first.done) this.failures.delete(first.value)
  }
}

/** `::ffff:10.0.0.5` and `10.0.0.5` are the same client. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

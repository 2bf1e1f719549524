/**
 * Decorrelated-jitter backoff (as in AWS's "Exponential Backoff and Jitter"; Mosquitto's bridge uses the
 * same idea): next = min(cap, random(base, prev * 3)). Spreads reconnect storms of many gateways.
 */
export class Backoff {
  private prev: number

  constructor(
    private readonly base: number,
    private readonly cap: number,
    private readonly random: () => number = Math.random,
  ) {
    if (!(base > 0) || !(cap >= base)) throw new TypeError(`backoff: need 0 < base <= cap, got base=${base} cap=${cap}`)
    this.prev = base
  }

  next(): number {
    const hi = Math.min(this.cap, this.prev * 3)
    const delay = Math.min(this.cap, this.base + this.random() * (hi - this.base))
    this.prev = Math.max(this.base, delay)
    return Math.round(delay)
  }

  reset(): void {
    this.prev = this.base
  }
}

/** Uniform jitter around an interval: interval * (1 ± fraction). */
export function jitter(interval: number, fraction: number, random: () => number = Math.random): number {
  return Math.max(0, Math.round(interval * (1 + (random() * 2 - 1) * fraction)))
}

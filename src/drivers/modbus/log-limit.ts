import type { Clock } from '../../core/index.ts'

/**
 * Rate limit per distinct key (e.g. one exception code on one register range): the first occurrence
 * passes, then at most one per `everyMs`, carrying how many were held back in between.
 */
export class LogLimiter {
  private seen = new Map<string, { at: number; held: number }>()

  constructor(
    private readonly clock: Clock,
    private readonly everyMs: number,
    private readonly maxKeys = 256,
  ) {}

  /** null: stay quiet; otherwise log now, mentioning `repeated` occurrences since the last line. */
  pass(key: string): { repeated: number } | null {
    const now = this.clock.now()
    const s = this.seen.get(key)
    if (s && now - s.at < this.everyMs) {
      s.held++
      return null
    }
    if (!s && this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value as string)
    this.seen.set(key, { at: now, held: 0 })
    return { repeated: s?.held ?? 0 }
  }
}

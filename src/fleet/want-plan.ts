/** Why a gateway asks for chunks: reported with the request, for the operator's log. */
export type WantReason = 'idle' | 'batch' | 'refused' | 'reconnect'

/** Chunks asked for at once; the next batch is asked for as soon as this one is in. */
export const WANT_MAX = 32
/** No chunk written for this long while some are missing: ask. Doubles while unanswered, up to WANT_MAX_DELAY_MS. */
export const WANT_IDLE_MS = 3000
export const WANT_MAX_DELAY_MS = 60_000
/** Requests in a row that brought nothing before the gateway stops asking (until a reconnect or a new announce). */
export const MAX_UNANSWERED = 20

/**
 * When a gateway receiving an update asks for chunks, and which: pure, the caller passes the time and
 * what is missing. It asks at once after a reconnect (what was sent meanwhile is lost) and for a chunk
 * that was refused (corrupted on the way); the next batch as soon as the last one is in (unless the
 * shared stream is flowing); and when the
 * stream stopped for a while (the broadcast ended, or a message was lost), backing off while nothing
 * comes, and giving up after MAX_UNANSWERED requests so a gateway whose operator left stays quiet.
 */
export class WantPlan {
  private lastProgress: number
  private lastAsk = Number.NEGATIVE_INFINITY
  /** When a chunk last came on the shared topic: while that stream flows, it brings the rest. */
  private lastShared = Number.NEGATIVE_INFINITY
  private delay = WANT_IDLE_MS
  private unanswered = 0
  private urgent = false
  private readonly refusedSet = new Set<number>()
  /** The batch asked for last that has not all arrived; null when none is outstanding. */
  private asked: Set<number> | null = null
  stalled = false

  constructor(now: number) {
    this.lastProgress = now
  }

  written(index: number, now: number): void {
    this.lastProgress = now
    this.unanswered = 0
    this.delay = WANT_IDLE_MS
    this.stalled = false
    this.refusedSet.delete(index)
    this.asked?.delete(index)
  }

  /** A chunk came on the shared topic (new or not). */
  heard(now: number): void {
    this.lastShared = now
  }

  refused(index: number): void {
    this.refusedSet.add(index)
  }

  /** The link came back (or a download resumed at start): ask at once, with a fresh back-off. */
  reconnected(now: number): void {
    this.urgent = true
    this.unanswered = 0
    this.delay = WANT_IDLE_MS
    this.stalled = false
    this.asked = null
    this.lastProgress = now
  }

  /** What to ask for now, if anything. `missing(max)`: the lowest missing chunk indices. */
  next(now: number, missing: (max: number) => number[]): { indices: number[]; reason: WantReason } | null {
    if (this.urgent) {
      this.urgent = false
      return this.ask(missing(WANT_MAX), 'reconnect', now)
    }
    if (this.refusedSet.size > 0) {
      const indices = [...this.refusedSet].sort((x, y) => x - y)
      this.refusedSet.clear()
      this.lastAsk = now
      return { indices, reason: 'refused' }
    }
    // The next batch at once, unless the shared stream is flowing: it brings those too, and asking
    // for them alone would have them sent twice.
    if (this.asked !== null && this.asked.size === 0 && now - this.lastShared >= WANT_IDLE_MS) {
      this.asked = null
      const r = this.ask(missing(WANT_MAX), 'batch', now)
      if (r) return r
    }
    if (this.stalled || now - Math.max(this.lastProgress, this.lastAsk) < this.delay) return null
    if (this.unanswered >= MAX_UNANSWERED) {
      this.stalled = true
      return null
    }
    this.unanswered++
    this.delay = Math.min(this.delay * 2, WANT_MAX_DELAY_MS)
    return this.ask(missing(WANT_MAX), 'idle', now)
  }

  private ask(indices: number[], reason: WantReason, now: number): { indices: number[]; reason: WantReason } | null {
    if (indices.length === 0) return null
    this.asked = new Set(indices)
    this.lastAsk = now
    return { indices, reason }
  }
}

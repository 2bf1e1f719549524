import type { Clock } from '../core/clock.ts'
import type { Logger } from '../core/logger.ts'
import type { LimitKind } from './types.ts'

const LOG_EVERY_MS = 60_000
const MAX_TRACKED = 10_000

/** Counters, rates and limit hits; limit logs throttled to one per client and kind per minute. */
export class Stats {
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  connectionsTotal = 0
  readonly limitHits: Partial<Record<LimitKind, number>> = {}
  readonly startedAt: number
  rates = { messagesInPerSec: 0, messagesOutPerSec: 0, bytesInPerSec: 0, bytesOutPerSec: 0 }
  private sample: { at: number; mi: number; mo: number; bi: number; bo: number }
  private readonly lastLogged = new Map<string, number>()

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.startedAt = clock.now()
    this.sample = { at: this.startedAt, mi: 0, mo: 0, bi: 0, bo: 0 }
  }

  /** Recompute rates over the time since the previous call (called from the broker's sweep). */
  updateRates(): void {
    const now = this.clock.now()
    const dt = (now - this.sample.at) / 1000
    if (dt < 1) return
    this.rates = {
      messagesInPerSec: Math.round((this.messagesIn - this.sample.mi) / dt),
      messagesOutPerSec: Math.round((this.messagesOut - this.sample.mo) / dt),
      bytesInPerSec: Math.round((this.bytesIn - this.sample.bi) / dt),
      bytesOutPerSec: Math.round((this.bytesOut - this.sample.bo) / dt),
    }
    this.sample = { at: now, mi: this.messagesIn, mo: this.messagesOut, bi: this.bytesIn, bo: this.bytesOut }
  }

  limit(kind: LimitKind, clientId: string, detail: string): void {
    this.limitHits[kind] = (this.limitHits[kind] ?? 0) + 1
    const now = this.clock.now()
    const key = `${kind}\u0000${clientId}`
    const last = this.lastLogged.get(key)
    if (last !== undefined && now - last < LOG_EVERY_MS) return
    if (this.lastLogged.size >= MAX_TRACKED) this.lastLogged.clear()
    this.lastLogged.set(key, now)
    this.logger.warn({ clientId, limit: kind }, `client ${clientId || '(not connected)'} hit broker limit ${kind}: ${detail}`)
  }
}

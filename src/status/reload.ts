import { scrubString } from './scrub.ts'
import type { ReloadRecord, ReloadResult } from './types.ts'

/** What /status says about reloads: the last one, the last good one, and the failures since then. */
export interface ReloadView {
  allowed: boolean
  last: ReloadRecord | null
  last_good: ReloadRecord | null
  failed_since_last_good: number
  first_failed_since_last_good: ReloadRecord | null
  applied_total: number
  failed_total: number
}

/** The outcome of every reload, from the page or a signal; the page shows failures until a good one. */
export class ReloadLog {
  private last: ReloadRecord | null = null
  private lastGood: ReloadRecord | null = null
  /** The first failure since the last good reload (since when); the latest (why now) is `last`. */
  private firstFailed: ReloadRecord | null = null
  private failedSinceGood = 0
  private failedTotal = 0
  private appliedTotal = 0

  /** Records one outcome (its reason scrubbed of secrets) and returns it as stored. */
  record(result: ReloadResult, via: string, at: number): ReloadRecord {
    const rec: ReloadRecord = { at, via, ok: result.ok, ...(result.reason === undefined ? {} : { reason: scrubString(result.reason) }) }
    this.last = rec
    if (result.ok) {
      this.appliedTotal++
      this.lastGood = rec
      this.firstFailed = null
      this.failedSinceGood = 0
    } else {
      this.failedTotal++
      this.failedSinceGood++
      this.firstFailed ??= rec
    }
    return rec
  }

  view(allowed: boolean): ReloadView {
    return {
      allowed,
      last: this.last,
      last_good: this.lastGood,
      failed_since_last_good: this.failedSinceGood,
      first_failed_since_last_good: this.firstFailed,
      applied_total: this.appliedTotal,
      failed_total: this.failedTotal,
    }
  }
}

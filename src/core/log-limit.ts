import type { Clock, TimerHandle } from './clock.ts'
import type { Logger } from './logger.ts'

export type LimitedLevel = 'info' | 'warn' | 'error'

interface Entry {
  loggedAt: number
  suppressed: number
  level: LimitedLevel
  lastFields: Record<string, unknown>
  lastMsg: string
  timer: TimerHandle | null
}

export interface LogLimiterOptions {
  /** Quiet time after a line before the next line for the same key; also the summary period. */
  intervalMs?: number
  /** Keys remembered at most (the oldest idle ones are forgotten first). */
  maxKeys?: number
}

/**
 * Rate-limits repeated log lines per key (a reason, not a client): the first line is written as is,
 * repeats within `intervalMs` are counted, and one summary line with the count and the latest case
 * follows at the end of each interval in which repeats happened. A flood of malformed connections or
 * refused logins costs one line per reason per interval, and the log (often on the same SD card as
 * the queue) stays readable. Time comes from the injected clock.
 */
export class LogLimiter {
  private readonly intervalMs: number
  private readonly maxKeys: number
  private readonly entries = new Map<string, Entry>()

  constructor(
    private readonly logger: Logger,
    private readonly clock: Clock,
    opts: LogLimiterOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 10_000
    this.maxKeys = opts.maxKeys ?? 256
  }

  log(level: LimitedLevel, key: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.clock.now()
    const e = this.entries.get(key)
    if (e === undefined || (e.suppressed === 0 && now - e.loggedAt >= this.intervalMs)) {
      if (e === undefined) this.makeRoom()
      this.entries.set(key, { loggedAt: now, suppressed: 0, level, lastFields: fields, lastMsg: msg, timer: null })
      this.logger[level](fields, msg)
      return
    }
    e.suppressed++
    e.level = level
    e.lastFields = fields
    e.lastMsg = msg
    if (e.timer === null) {
      e.timer = this.clock.setTimeout(() => this.summarize(key), Math.max(0, e.loggedAt + this.intervalMs - now))
      e.timer.unref?.()
    }
  }

  /** Write pending summaries now (at shutdown) and stop their timers. */
  flush(): void {
    for (const key of [...this.entries.keys()]) this.summarize(key)
  }

  /** Keys with a line written in the current interval (for tests and status). */
  get size(): number {
    return this.entries.size
  }

  private summarize(key: string): void {
    const e = this.entries.get(key)
    if (e === undefined) return
    if (e.timer !== null) this.clock.clearTimeout(e.timer)
    e.timer = null
    if (e.suppressed === 0) return
    const seconds = Math.round((this.clock.now() - e.loggedAt) / 1000)
    this.logger[e.level]({ ...e.lastFields, repeated: e.suppressed, seconds }, `${e.suppressed} more in the last ${seconds} s like: ${e.lastMsg}`)
    e.suppressed = 0
    e.loggedAt = this.clock.now()
  }

  private makeRoom(): void {
    if (this.entries.size < this.maxKeys) return
    for (const [key, e] of this.entries) {
      if (e.timer !== null) continue
      this.entries.delete(key)
      if (this.entries.size < this.maxKeys / 2) return
    }
  }
}

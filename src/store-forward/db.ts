import { existsSync, mkdirSync, renameSync } from 'node:fs'
import { resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import type { Clock, Logger } from '../core/index.ts'
import { errorMessage, FieldgateError } from '../core/index.ts'

export type RawDb = ClassicLevel<Buffer, Buffer>

/** While writes keep failing, one error line per this long (with the count of those not logged). */
const ERROR_LOG_EVERY_MS = 10_000

export interface DbTuning {
  writeBufferSize?: number
  cacheSize?: number
}

export type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer }

export interface RepairEvent {
  at: number
  action: 'repaired' | 'moved-aside'
  reason: string
  movedTo?: string
}

/**
 * The one LevelDB of a gateway, with recovery: corrupt at open → repair → move aside and start
 * fresh; a failed write (ENOSPC, EIO) leaves LevelDB refusing writes until reopened, so the next
 * write reopens it first instead of failing forever.
 */
export class LevelHandle {
  db: RawDb
  readonly repairs: RepairEvent[] = []
  lastWriteError: string | null = null
  private needsReopen = false
  private reopening: Promise<void> | null = null
  /** Failed writes since the last one logged (a full disk fails every batch: one line per batch flooded the log). */
  private unlogged = 0
  private lastErrorLoggedAt: number | null = null
  private closed = false

  private constructor(
    readonly location: string,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly tuning: DbTuning,
  ) {
    this.db = LevelHandle.make(location, tuning)
  }

  private static make(location: string, tuning: DbTuning): RawDb {
    return new ClassicLevel<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer', ...tuning })
  }

  /** True when the database was repaired or replaced at open, so derived metadata must be recounted. */
  get recovered(): boolean {
    return this.repairs.length > 0
  }

  static async open(dir: string, logger: Logger, clock: Clock, tuning: DbTuning = {}): Promise<LevelHandle> {
    const location = resolve(dir)
    mkdirSync(location, { recursive: true })
    const h = new LevelHandle(location, logger, clock, tuning)
    try {
      await h.db.open()
      return h
    } catch (err) {
      await h.db.close().catch(() => undefined)
      if (notCorruption(err)) {
        // Repair would fail the same way and the fallback would move good data aside: a gateway
        // restarted on a full disk came back empty and never forwarded what it had acknowledged.
        throw new FieldgateError(
          'QUEUE_WRITE_FAILED',
          `store: cannot open the database at ${location}: ${describe(err)}. Free disk space (or release the lock / remount read-write) and start again; the data was left untouched.`,
          { cause: err },
        )
      }
      logger.warn({ dir: location, err: describe(err) }, 'store: database failed to open, trying LevelDB repair')
    }
    try {
      await ClassicLevel.repair(location)
      h.db = LevelHandle.make(location, tuning)
      await h.db.open()
      const ev: RepairEvent = { at: clock.now(), action: 'repaired', reason: 'database failed to open; LevelDB repair succeeded (entries in lost files are gone)' }
      h.repairs.push(ev)
      logger.warn({ dir: location }, `store: ${ev.reason}`)
      return h
    } catch (err) {
      await h.db.close().catch(() => undefined)
      const movedTo = `${location}.corrupt-${new Date(clock.now()).toISOString().replace(/[:.]/g, '-')}`
      const reason = `repair failed (${describe(err)}); moved the database aside and started empty`
      try {
        if (existsSync(location)) renameSync(location, movedTo)
        mkdirSync(location, { recursive: true })
        h.db = LevelHandle.make(location, tuning)
        await h.db.open()
      } catch (err2) {
        throw new FieldgateError('STORE_CORRUPT', `store: cannot open or recreate the database at ${location}: ${describe(err2)}. Check permissions and free space of storage.data_dir.`, { cause: err2 })
      }
      h.repairs.push({ at: clock.now(), action: 'moved-aside', reason, movedTo })
      logger.error({ dir: location, movedTo }, `store: ${reason}`)
      return h
    }
  }

  /** Writes one atomic batch. Throws QUEUE_WRITE_FAILED; the next call reopens the database first. */
  async write(ops: BatchOp[], sync: boolean): Promise<void> {
    if (this.closed) throw new FieldgateError('QUEUE_CLOSED', 'store: the database is closed')
    try {
      await this.reopenIfNeeded()
      const b = this.db.batch()
      for (const op of ops) {
        if (op.type === 'put') b.put(op.key, op.value)
        else b.del(op.key)
      }
      await b.write({ sync })
      if (this.lastErrorLoggedAt !== null) {
        this.logger.info({ dir: this.location, failedSinceLastLog: this.unlogged }, 'store: writes succeed again')
        this.lastErrorLoggedAt = null
        this.unlogged = 0
      }
      this.lastWriteError = null
    } catch (err) {
      this.noteFailure(err)
      throw new FieldgateError(
        'QUEUE_WRITE_FAILED',
        `store: writing to ${this.location} failed (${describe(err)}). Free disk space or check the storage device; the write is retried on the next append.`,
        { cause: err },
      )
    }
  }

  /**
   * Call before reading: after a failed write the reopen may itself have failed (a full disk has no room
   * for LevelDB's recovery), leaving the database closed. Without this, reads failed with "Database is
   * not open" until some publish happened to write, so a backlog never drained after space returned.
   */
  async ready(): Promise<void> {
    if (this.closed) throw new FieldgateError('QUEUE_CLOSED', 'store: the database is closed')
    try {
      await this.reopenIfNeeded()
    } catch (err) {
      this.noteFailure(err)
      throw new FieldgateError(
        'QUEUE_WRITE_FAILED',
        `store: reopening ${this.location} after a write error failed (${describe(err)}). Free disk space or check the storage device; it is retried on the next read or write.`,
        { cause: err },
      )
    }
  }

  private noteFailure(err: unknown): void {
    this.needsReopen = true
    const now = this.clock.now()
    this.lastWriteError = `${new Date(now).toISOString()} ${describe(err)}`
    if (this.lastErrorLoggedAt === null || now - this.lastErrorLoggedAt >= ERROR_LOG_EVERY_MS) {
      const more = this.unlogged > 0 ? { failedSinceLastLog: this.unlogged } : {}
      this.logger.error({ dir: this.location, err: describe(err), ...more }, 'store: write failed; will reopen the database and retry on the next write')
      this.lastErrorLoggedAt = now
      this.unlogged = 0
    } else this.unlogged++
  }

  /** One reopen at a time: queues and sessions share this handle. */
  private async reopenIfNeeded(): Promise<void> {
    if (!this.needsReopen) return
    this.reopening ??= this.reopen().finally(() => {
      this.reopening = null
    })
    await this.reopening
  }

  private async reopen(): Promise<void> {
    if (this.db.status === 'open') await this.db.close()
    if (this.db.status !== 'closed') throw new Error(`database is ${this.db.status}`)
    await this.db.open()
    this.needsReopen = false
    this.logger.info({ dir: this.location }, 'store: database reopened after a write error')
  }

  async close(): Promise<void> {
    this.closed = true
    await this.db.close()
  }
}

/** Open failures that say nothing about the files' integrity (LevelDB's recovery needs to write). */
function notCorruption(err: unknown): boolean {
  const code = err instanceof Error && err.cause instanceof Error && 'code' in err.cause ? err.cause.code : undefined
  return code === 'LEVEL_LOCKED' || /No space left on device|Disk quota exceeded|Read-only file system/i.test(describe(err))
}

function describe(err: unknown): string {
  const cause = err instanceof Error && err.cause !== undefined ? ` (${errorMessage(err.cause)})` : ''
  return `${errorMessage(err)}${cause}`
}

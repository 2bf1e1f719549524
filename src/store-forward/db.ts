import { mkdirSync, statSync } from 'node:fs'
import { userInfo } from 'node:os'
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
  action: 'repaired'
  reason: string
}

/**
 * The one LevelDB of a gateway, with recovery: reported corrupt at open → LevelDB repair (or stop,
 * files untouched); any other open failure stops the start; a failed write (ENOSPC, EIO) leaves LevelDB refusing writes until reopened, so the next
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
    makeDir(location)
    const h = new LevelHandle(location, logger, clock, tuning)
    try {
      await h.db.open()
      return h
    } catch (err) {
      await h.db.close().catch(() => undefined)
      // Only a database LevelDB itself calls corrupt is repaired. Anything else (a permission problem,
      // a full or read-only disk, a lock) says nothing about the files: repairing or moving them aside
      // made a gateway whose files the service user could not read start empty.
      if (levelCode(err) !== 'LEVEL_CORRUPTION') throw openFailure(location, err)
      logger.warn({ dir: location, err: describe(err) }, 'store: LevelDB reports the database corrupt; trying LevelDB repair')
    }
    try {
      // RepairDB keeps every readable record and archives unreadable files in lost/; nothing is deleted.
      await ClassicLevel.repair(location)
      h.db = LevelHandle.make(location, tuning)
      await h.db.open()
    } catch (err) {
      await h.db.close().catch(() => undefined)
      throw new FieldgateError(
        'STORE_CORRUPT',
        `store: the database at ${location} is corrupt and LevelDB repair failed (${describe(err)}); the files were left as they are. Copy the directory for inspection, then move it away to start empty.`,
        { cause: err },
      )
    }
    const ev: RepairEvent = { at: clock.now(), action: 'repaired', reason: 'LevelDB reported corruption at open; repair succeeded (unreadable files were archived in lost/)' }
    h.repairs.push(ev)
    logger.warn({ dir: location }, `store: ${ev.reason}`)
    return h
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

function levelCode(err: unknown): string | undefined {
  const cause = err instanceof Error ? err.cause : undefined
  return cause instanceof Error && 'code' in cause && typeof cause.code === 'string' ? cause.code : undefined
}

/** The data dir must be a directory this user can create and write; says which and how to fix it. */
function makeDir(location: string): void {
  try {
    mkdirSync(location, { recursive: true })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `is not a directory (it or a parent is a file)`
        : code === 'EACCES' || code === 'EPERM'
          ? `cannot be created by user ${userName()} (permission denied)`
          : code === 'EROFS'
            ? 'cannot be created: the file system is read-only'
            : `cannot be created (${code ?? errorMessage(err)})`
    throw new FieldgateError('STORE_UNAVAILABLE', `store: the data dir ${location} ${why}; fix the path or create it for the service user`, { cause: err })
  }
  if (!statSync(location).isDirectory()) throw new FieldgateError('STORE_UNAVAILABLE', `store: the data dir ${location} is not a directory; fix the path`)
}

/** Says what stopped the open and what to do; the files are never touched on this path. */
function openFailure(location: string, err: unknown): FieldgateError {
  const code = levelCode(err)
  const text = describe(err)
  const untouched = 'the data was left untouched'
  if (code === 'LEVEL_LOCKED') {
    return new FieldgateError('STORE_LOCKED', `store: another fieldgate (or another process) holds the data dir ${location}; stop it first (systemctl stop fieldgate) or use another data dir; ${untouched}`, { cause: err })
  }
  const [what, todo] = /Permission denied|Operation not permitted/i.test(text)
    ? [`user ${userName()} may not read or write its files (permission denied)`, `Give the service user ownership (chown -R fieldgate: ${location})`]
    : /No space left on device|Disk quota exceeded/i.test(text)
      ? ['the disk is full', 'Free disk space']
      : /Read-only file system/i.test(text)
        ? ['the file system is read-only', 'Remount it read-write']
        : ['it cannot be opened', 'Check the storage device']
  // The same code as a failed write: callers already treat it as "the disk refused", data intact.
  return new FieldgateError('QUEUE_WRITE_FAILED', `store: cannot open the database at ${location}: ${what} (${text}). ${todo} and start again; ${untouched}`, { cause: err })
}

function userName(): string {
  try {
    return userInfo().username
  } catch {
    return String(process.getuid?.() ?? '?')
  }
}

function describe(err: unknown): string {
  const cause = err instanceof Error && err.cause !== undefined ? ` (${errorMessage(err.cause)})` : ''
  return `${errorMessage(err)}${cause}`
}

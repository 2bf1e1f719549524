import { mkdir, readFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { errorMessage, FieldgateError } from '../core/index.ts'
import { freeBytes, writeAll, writeFileAtomic } from './durable-files.ts'
import { hashFile } from './hash-file.ts'
import { manifestToJson, parseManifest, refused, sha256Hex, type Manifest } from './manifest.ts'
import { isComplete, isDone, markDone, markMissing, missingRanges, offer, receivedBytes, restoreState, type ChunkState, type Range } from './receiver-state.ts'
import { closeStaging, MANIFEST, openStaging, recordDone, removeStaging, rewriteDoneLog, STAGING } from './staging.ts'
import { checkManifest, elfArch, type UpdatePolicy } from './verify.ts'
/** Kept free beyond the announced size, so the download does not fill the disk the queue lives on. */
const SPARE_BYTES = 8 * 1024 * 1024

export interface AnnounceResult {
  version: string
  /** True when the same update was already partly here (after an outage or a restart). */
  resumed: boolean
  missing: Range[]
  complete: boolean
}

export type ChunkResult = { kind: 'written' | 'duplicate'; index: number; complete: boolean } | { kind: 'refused'; reason: string }

export interface ReceiverStatus {
  state: 'idle' | 'receiving' | 'complete'
  version?: string
  bytes?: number
  size?: number
  chunksDone?: number
  chunks?: number
  lastError?: string
}

/** A completed, fully verified download: the staged file and the manifest it matches. */
export interface VerifiedUpdate {
  file: string
  manifest: Manifest
}

interface Current {
  manifest: Manifest
  state: ChunkState
  fh: FileHandle
  log: FileHandle
}

/**
 * Receives one update at a time into `dir` (in the data dir): the announce is verified first, then chunks
 * are checked against their signed hashes and written at their offsets as they arrive. Memory is one
 * chunk per call; calls run one at a time. Progress is on disk, so a restart or an outage resumes where
 * it was; a repeated or late chunk is a no-op. A full disk ends the download with UPDATE_DISK_FULL and
 * removes the staging files.
 */
export class UpdateReceiver {
  private current: Current | null = null
  private lastError: string | null = null
  private tail: Promise<unknown> = Promise.resolve()

  private constructor(
    readonly dir: string,
    private policy: UpdatePolicy,
    private readonly spareBytes: number,
  ) {}

  /** Opens the staging dir and resumes a download found there (dropped if the policy now refuses it). */
  static async open(dir: string, policy: UpdatePolicy, opts: { spareBytes?: number } = {}): Promise<UpdateReceiver> {
    const r = new UpdateReceiver(dir, policy, opts.spareBytes ?? SPARE_BYTES)
    await mkdir(dir, { recursive: true })
    let text: string | null = null
    try {
      text = await readFile(join(dir, MANIFEST), 'utf8')
    } catch {
      text = null
    }
    if (text === null) {
      await removeStaging(dir)
      return r
    }
    try {
      const manifest = parseManifest(text)
      checkManifest(manifest, policy)
      await r.resume(manifest)
    } catch (err) {
      r.lastError = errorMessage(err)
      await removeStaging(dir)
    }
    return r
  }

  /** Verifies an announce and starts (or resumes) its download. Refused: UPDATE_REFUSED, and nothing here changes. */
  announce(manifestText: string): Promise<AnnounceResult> {
    return this.serial(async () => {
      const manifest = parseManifest(manifestText)
      checkManifest(manifest, this.policy)
      const cur = this.current
      if (cur && sameUpdate(cur.manifest, manifest)) return { version: manifest.version, resumed: true, missing: missingRanges(cur.state), complete: isComplete(cur.state) }
      await this.drop()
      const free = await freeBytes(this.dir)
      if (free !== null && free < manifest.size + this.spareBytes) {
        throw new FieldgateError('UPDATE_DISK_FULL', `update: version ${manifest.version} needs ${mb(manifest.size + this.spareBytes)} in ${this.dir}, only ${mb(free)} is free; free space and announce it again`)
      }
      await writeFileAtomic(join(this.dir, MANIFEST), manifestToJson(manifest))
      await this.resume(manifest)
      this.lastError = null
      const c = this.current as Current | null
      return { version: manifest.version, resumed: false, missing: c ? missingRanges(c.state) : [], complete: false }
    })
  }

  /** Checks and writes one chunk; `refused` for a wrong one (nothing written: ask for that range again). */
  chunk(offset: number, bytes: Buffer): Promise<ChunkResult> {
    return this.serial(async () => {
      const cur = this.current
      if (!cur) return { kind: 'refused', reason: 'no update is being received; announce it first' }
      // A chunk already on disk is not hashed again: the shared transfer brings every gateway chunks it has.
      const had = isDone(cur.state, offset)
      if (had !== null) return { kind: 'duplicate', index: had, complete: isComplete(cur.state) }
      const o = offer(cur.state, offset, bytes.length, sha256Hex(bytes))
      if (o.kind === 'refused') return o
      if (o.kind === 'duplicate') return { kind: 'duplicate', index: o.index, complete: isComplete(cur.state) }
      try {
        await writeAll(cur.fh, bytes, offset)
        await cur.fh.datasync()
        await recordDone(cur.log, o.index)
      } catch (err) {
        throw await this.failWrite(cur, err)
      }
      markDone(cur.state, o.index)
      return { kind: 'written', index: o.index, complete: isComplete(cur.state) }
    })
  }

  /** The manifest of the download in progress, or null. */
  get manifest(): Manifest | null {
    return this.current?.manifest ?? null
  }

  missing(max?: number): Range[] {
    return this.current ? missingRanges(this.current.state, max) : []
  }

  /**
   * Reads the whole staged file back and checks size, SHA-256 and that it is an executable for the
   * manifest's architecture. A chunk that reads back wrong (a storage fault) is marked missing again and
   * UPDATE_FAILED names it; a wrong architecture drops the download (UPDATE_REFUSED).
   */
  finish(): Promise<VerifiedUpdate> {
    return this.serial(async () => {
      const cur = this.current
      if (!cur) throw new FieldgateError('UPDATE_FAILED', 'update: nothing has been received; announce an update first')
      if (!isComplete(cur.state)) throw new FieldgateError('UPDATE_FAILED', `update: version ${cur.manifest.version} is not complete (${missingRanges(cur.state).length} ranges missing)`)
      const file = join(this.dir, STAGING)
      const got = await hashFile(file, cur.manifest.chunkSize)
      const bad = cur.manifest.chunks.flatMap((h, i) => (got.chunks[i] === h ? [] : [i]))
      if (bad.length > 0 || got.size !== cur.manifest.size || got.sha256 !== cur.manifest.sha256) {
        markMissing(cur.state, bad)
        cur.log = await rewriteDoneLog(this.dir, cur.log, [...cur.state.done.keys()].filter((i) => cur.state.done[i] === 1))
        throw new FieldgateError('UPDATE_FAILED', `update: ${bad.length} chunk(s) of version ${cur.manifest.version} read back wrong from ${file} (a storage fault); they are asked for again`)
      }
      const header = Buffer.alloc(20)
      await cur.fh.read(header, 0, 20, 0)
      const arch = elfArch(header)
      if (arch !== cur.manifest.arch) {
        const version = cur.manifest.version
        await this.drop()
        throw refused(`version ${version} is signed as ${cur.manifest.arch} but the file is ${arch ? `a ${arch} executable` : 'not a Linux executable'}; nothing was installed`)
      }
      return { file, manifest: cur.manifest }
    })
  }

  /** Drops the download and its files. */
  discard(): Promise<void> {
    return this.serial(() => this.drop())
  }

  setPolicy(policy: UpdatePolicy): void {
    this.policy = policy
  }

  status(): ReceiverStatus {
    const cur = this.current
    const err = this.lastError ? { lastError: this.lastError } : {}
    if (!cur) return { state: 'idle', ...err }
    const s = cur.state
    return { state: isComplete(s) ? 'complete' : 'receiving', version: cur.manifest.version, bytes: receivedBytes(s), size: cur.manifest.size, chunksDone: s.doneCount, chunks: s.done.length, ...err }
  }

  /** Closes the files; the download stays on disk for the next open. */
  close(): Promise<void> {
    return this.serial(async () => {
      const cur = this.current
      this.current = null
      if (cur) await closeStaging(cur)
    })
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.tail.then(f, f)
    this.tail = run.catch(() => undefined)
    return run
  }

  private async resume(manifest: Manifest): Promise<void> {
    const { fh, log, recorded } = await openStaging(this.dir)
    const state = restoreState({ size: manifest.size, chunkSize: manifest.chunkSize, hashes: manifest.chunks }, recorded)
    this.current = { manifest, state, fh, log }
  }

  private async failWrite(cur: Current, err: unknown): Promise<FieldgateError> {
    const code = (err as NodeJS.ErrnoException).code
    const { version, size } = cur.manifest
    const got = receivedBytes(cur.state)
    await this.drop()
    const e =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? new FieldgateError('UPDATE_DISK_FULL', `update: the disk holding ${this.dir} is full (${got} of ${size} bytes of version ${version} received); the download was removed; free space and announce it again`, { cause: err })
        : new FieldgateError('UPDATE_FAILED', `update: writing version ${version} to ${this.dir} failed (${errorMessage(err)}); the download was removed; check the storage and announce it again`, { cause: err })
    this.lastError = e.message
    return e
  }

  private async drop(): Promise<void> {
    const cur = this.current
    this.current = null
    if (cur) await closeStaging(cur)
    await removeStaging(this.dir)
  }
}

function sameUpdate(a: Manifest, b: Manifest): boolean {
  return a.sha256 === b.sha256 && a.size === b.size && a.chunkSize === b.chunkSize && a.version === b.version && a.arch === b.arch
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`
}

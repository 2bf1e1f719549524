import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'
import { mkdir, open, readFile, rename, rm, statfs, truncate, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { errorMessage, FieldgateError } from '../core/index.ts'
import { hashFile } from './hash-file.ts'
import { manifestToJson, parseManifest, refused, sha256Hex, type Manifest } from './manifest.ts'
import { isComplete, markDone, markMissing, missingRanges, offer, receivedBytes, restoreState, type ChunkState, type Range } from './receiver-state.ts'
import { checkManifest, elfArch, type UpdatePolicy } from './verify.ts'

const MANIFEST = 'manifest.json'
const STAGING = 'staging.bin'
/** Chunk indices durably written, 4 bytes each (uint32 LE), appended after the chunk's bytes are synced. */
const DONE_LOG = 'done.log'
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
      await r.removeFiles()
      return r
    }
    try {
      const manifest = parseManifest(text)
      checkManifest(manifest, policy)
      await r.resume(manifest)
    } catch (err) {
      r.lastError = errorMessage(err)
      await r.removeFiles()
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
      const o = offer(cur.state, offset, bytes.length, sha256Hex(bytes))
      if (o.kind === 'refused') return o
      if (o.kind === 'duplicate') return { kind: 'duplicate', index: o.index, complete: isComplete(cur.state) }
      try {
        await writeAll(cur.fh, bytes, offset)
        await cur.fh.datasync()
        const rec = Buffer.alloc(4)
        rec.writeUInt32LE(o.index)
        await cur.log.write(rec)
        await cur.log.datasync()
      } catch (err) {
        throw await this.failWrite(cur, err)
      }
      markDone(cur.state, o.index)
      return { kind: 'written', index: o.index, complete: isComplete(cur.state) }
    })
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
        await this.rewriteLog(cur)
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
      if (cur) await closeCurrent(cur)
    })
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.tail.then(f, f)
    this.tail = run.catch(() => undefined)
    return run
  }

  private async resume(manifest: Manifest): Promise<void> {
    const staging = join(this.dir, STAGING)
    const fh = await open(staging, 'a+').then(async (h) => {
      await h.close()
      return open(staging, 'r+')
    })
    let recorded: number[] = []
    const logFile = join(this.dir, DONE_LOG)
    try {
      const log = await readFile(logFile)
      // A record torn by a crash (fewer than 4 bytes) is cut off, so the next append starts on a record
      // boundary; that chunk is fetched again.
      const whole = log.length - (log.length % 4)
      if (whole !== log.length) await truncate(logFile, whole)
      recorded = Array.from({ length: whole / 4 }, (_, i) => log.readUInt32LE(i * 4))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        await fh.close()
        throw err
      }
    }
    const state = restoreState({ size: manifest.size, chunkSize: manifest.chunkSize, hashes: manifest.chunks }, recorded)
    const log = await open(join(this.dir, DONE_LOG), 'a')
    this.current = { manifest, state, fh, log }
  }

  private async rewriteLog(cur: Current): Promise<void> {
    const indices = [...cur.state.done.keys()].filter((i) => cur.state.done[i] === 1)
    const buf = Buffer.alloc(indices.length * 4)
    indices.forEach((v, i) => buf.writeUInt32LE(v, i * 4))
    await cur.log.close()
    await writeFileAtomic(join(this.dir, DONE_LOG), buf)
    cur.log = await open(join(this.dir, DONE_LOG), 'a')
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
    if (cur) await closeCurrent(cur)
    await this.removeFiles()
  }

  private async removeFiles(): Promise<void> {
    // The manifest goes first: without it, what is left is never resumed.
    for (const f of [MANIFEST, DONE_LOG, STAGING, `${MANIFEST}.tmp`, `${DONE_LOG}.tmp`]) await rm(join(this.dir, f), { force: true })
  }
}

function sameUpdate(a: Manifest, b: Manifest): boolean {
  return a.sha256 === b.sha256 && a.size === b.size && a.chunkSize === b.chunkSize && a.version === b.version && a.arch === b.arch
}

async function closeCurrent(cur: Current): Promise<void> {
  await cur.fh.close().catch(() => undefined)
  await cur.log.close().catch(() => undefined)
}

async function writeAll(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0
  // Bounded: each write moves at least one byte or throws.
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done)
    if (bytesWritten <= 0) throw new FieldgateError('UPDATE_FAILED', 'update: a write made no progress')
    done += bytesWritten
  }
}

/** tmp file, fsync, rename, fsync of the directory: the file is either the old or the new one after a crash. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w', 0o644)
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  await rename(tmp, path)
  syncDir(join(path, '..'))
}

export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

async function freeBytes(dir: string): Promise<number | null> {
  try {
    const s = await statfs(dir)
    return s.bavail * s.bsize
  } catch {
    return null
  }
}

function mb(n: number): string {
  return `${(n / 1e6).toFixed(1)} MB`
}


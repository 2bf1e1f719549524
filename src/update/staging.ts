import { open, readFile, rm, truncate, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from './durable-files.ts'

/**
 * The files of a download in progress, in the receiver's directory: the manifest (written first: without
 * it nothing else is resumed), the staged bytes written at each chunk's offset, and the done log.
 */
export const MANIFEST = 'manifest.json'
export const STAGING = 'staging.bin'
/** Chunk indices durably written, 4 bytes each (uint32 LE), appended after the chunk's bytes are synced. */
export const DONE_LOG = 'done.log'

export interface StagingFiles {
  fh: FileHandle
  log: FileHandle
  /** Chunk indices the done log records, in the order they were recorded. */
  recorded: number[]
}

/** Opens (or creates) the staged file and the done log of `dir`, reading back what the log recorded. */
export async function openStaging(dir: string): Promise<StagingFiles> {
  const staging = join(dir, STAGING)
  const fh = await open(staging, 'a+').then(async (h) => {
    await h.close()
    return open(staging, 'r+')
  })
  let recorded: number[] = []
  const logFile = join(dir, DONE_LOG)
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
  const log = await open(logFile, 'a')
  return { fh, log, recorded }
}

/** Appends chunk `index` to the done log and syncs it (after the chunk's own bytes were synced). */
export async function recordDone(log: FileHandle, index: number): Promise<void> {
  const rec = Buffer.alloc(4)
  rec.writeUInt32LE(index)
  await log.write(rec)
  await log.datasync()
}

/** Replaces the done log with exactly `indices` (after chunks read back wrong); returns the reopened log. */
export async function rewriteDoneLog(dir: string, log: FileHandle, indices: number[]): Promise<FileHandle> {
  const buf = Buffer.alloc(indices.length * 4)
  indices.forEach((v, i) => buf.writeUInt32LE(v, i * 4))
  await log.close()
  await writeFileAtomic(join(dir, DONE_LOG), buf)
  return open(join(dir, DONE_LOG), 'a')
}

export async function closeStaging(s: { fh: FileHandle; log: FileHandle }): Promise<void> {
  await s.fh.close().catch(() => undefined)
  await s.log.close().catch(() => undefined)
}

/** Removes a download's files; the manifest goes first, so what is left is never resumed. */
export async function removeStaging(dir: string): Promise<void> {
  for (const f of [MANIFEST, DONE_LOG, STAGING, `${MANIFEST}.tmp`, `${DONE_LOG}.tmp`]) await rm(join(dir, f), { force: true })
}

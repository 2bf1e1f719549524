import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'
import { rename, statfs, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { FieldgateError } from '../core/index.ts'

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

/** Writes all of `bytes` at `position`, looping over short writes. */
export async function writeAll(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0
  // Bounded: each write moves at least one byte or throws.
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done)
    if (bytesWritten <= 0) throw new FieldgateError('UPDATE_FAILED', 'update: a write made no progress')
    done += bytesWritten
  }
}

/** Bytes free to this user on the filesystem holding `dir`, or null when it cannot be told. */
export async function freeBytes(dir: string): Promise<number | null> {
  try {
    const s = await statfs(dir)
    return s.bavail * s.bsize
  } catch {
    return null
  }
}

import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

/** Size, SHA-256 and per-chunk SHA-256 of a file, read in chunk-sized pieces (memory: one chunk). */
export async function hashFile(path: string, chunkSize: number): Promise<{ size: number; sha256: string; chunks: string[] }> {
  const fh = await open(path, 'r')
  try {
    const whole = createHash('sha256')
    const chunks: string[] = []
    const buf = Buffer.allocUnsafe(chunkSize)
    let size = 0
    // Bounded by the file's size: each pass reads up to one chunk and stops at end of file.
    for (;;) {
      const n = await readFull(fh, buf, size)
      if (n === 0) break
      const piece = buf.subarray(0, n)
      whole.update(piece)
      chunks.push(createHash('sha256').update(piece).digest('hex'))
      size += n
      if (n < chunkSize) break
    }
    if (chunks.length === 0) chunks.push(createHash('sha256').digest('hex'))
    return { size, sha256: whole.digest('hex'), chunks }
  } finally {
    await fh.close()
  }
}

/** Reads up to buf.length bytes at `position`, looping over short reads; returns how many. */
async function readFull(fh: import('node:fs/promises').FileHandle, buf: Buffer, position: number): Promise<number> {
  let got = 0
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

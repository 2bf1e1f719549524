import { FieldgateError } from '../core/index.ts'
import type { RawDb } from './db.ts'

/**
 * The layout of the data in the LevelDB (key prefixes and value encodings of queues, sessions and
 * retained messages). Raise FORMAT when a version writes something an older one would misread; leave
 * OLDEST_READER alone when the change is one older versions can still read (they ignore what they do
 * not know), so that a rollback after an update keeps working.
 *
 * A version that raises OLDEST_READER must migrate only once its update has committed (no trial
 * marker beside the executable): a trial that fails is rolled back to a version that must still open
 * the data.
 */
export const FORMAT = 1
export const OLDEST_READER = 1
/** Sorts before every other key prefix ('i', 'o', 'p', 'q', 'r', 's'); no range scan reaches it. */
export const FORMAT_KEY = Buffer.from('!format', 'latin1')

export interface FormatRecord {
  format: number
  oldestReader: number
  writtenBy: string
}

export function encodeFormat(r: FormatRecord): Buffer {
  return Buffer.from(JSON.stringify({ format: r.format, oldest_reader: r.oldestReader, written_by: r.writtenBy }))
}

export function decodeFormat(b: Buffer): FormatRecord | null {
  try {
    const o = JSON.parse(b.toString('utf8')) as Record<string, unknown>
    if (!Number.isSafeInteger(o.format) || !Number.isSafeInteger(o.oldest_reader)) return null
    return { format: o.format as number, oldestReader: o.oldest_reader as number, writtenBy: typeof o.written_by === 'string' ? o.written_by : '?' }
  } catch {
    return null
  }
}

/**
 * At open: a data dir without a record (created before formats were recorded: the same layout as
 * format 1) or with an older one gets ours; one written by a newer version is opened when it says
 * this version can still read it, else refused with one line (files untouched).
 */
export async function checkFormat(db: RawDb, location: string, version: string): Promise<void> {
  let raw: Buffer | undefined
  try {
    raw = await db.get(FORMAT_KEY)
  } catch {
    raw = undefined
  }
  const stored = raw === undefined ? null : decodeFormat(raw)
  if (raw !== undefined && stored === null) {
    throw new FieldgateError('STORE_FORMAT', `${location} has an unreadable format record; it was written by another program or damaged. Move the directory away to start empty`)
  }
  if (stored && stored.oldestReader > FORMAT) {
    throw new FieldgateError(
      'STORE_FORMAT',
      `${location} holds data format ${stored.format} (written by fieldgate ${stored.writtenBy}), which fieldgate ${version} (format ${FORMAT}) cannot read. Run fieldgate ${stored.writtenBy} or newer, or move the directory away to start empty`,
    )
  }
  if (stored && stored.format >= FORMAT) return
  await db.put(FORMAT_KEY, encodeFormat({ format: FORMAT, oldestReader: OLDEST_READER, writtenBy: version }), { sync: true })
}

import { readSeq } from './codec.ts'
import type { RawDb } from './db.ts'
import { chargedSize, type QueueOptions } from './types.ts'

/**
 * Storage budget of one LevelDB queue (storage.max_bytes, storage.max_age, storage.policy) and the
 * queue's metadata record. Split from level-queue.ts, which keeps the FIFO and its batching.
 */

const SCAN_CHUNK = 256

/** Counters kept in one record written with every batch, so opening a deep queue needs no scan. */
export interface Meta {
  nextSeq: string
  depth: number
  bytes: number
  appended: number
  acked: number
  dropped: number
  rejected: number
}

export function parseMeta(raw: Buffer): Meta | null {
  try {
    const m = JSON.parse(raw.toString('utf8')) as Partial<Meta>
    if (typeof m.nextSeq !== 'string' || typeof m.depth !== 'number' || typeof m.bytes !== 'number') return null
    return { nextSeq: m.nextSeq, depth: m.depth, bytes: m.bytes, appended: m.appended ?? 0, acked: m.acked ?? 0, dropped: m.dropped ?? 0, rejected: m.rejected ?? 0 }
  } catch {
    return null
  }
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b
}

/** Why an append of `total` bytes must be refused now (`used` bytes held or pending), or null. */
export function fullReason(o: Pick<QueueOptions, 'maxBytes' | 'maxAge' | 'policy'>, used: number, oldestAt: number | null, total: number, now: number): string | null {
  if (total > o.maxBytes) return `${total} bytes exceed the whole budget storage.max_bytes=${o.maxBytes}`
  if (o.policy !== 'reject-new') return null
  if (used + total > o.maxBytes) {
    return `${used} of storage.max_bytes=${o.maxBytes} bytes used (policy reject-new); the uplink must drain first`
  }
  if (o.maxAge > 0 && oldestAt !== null && now - oldestAt > o.maxAge) {
    return `oldest entry is ${now - oldestAt} ms old, over storage.max_age=${o.maxAge} (policy reject-new)`
  }
  return null
}

export interface EvictScope {
  db: RawDb
  o: QueueOptions
  /** Queue name, for the log. */
  name: string
  /** Key range of the queue's live entries, oldest first. */
  from: Buffer
  to: Buffer
  prefixLength: number
  oldestAt: number | null
}

export interface EvictResult {
  evicted: number
  bytesAfter: number
  droppedPuts: Set<bigint>
}

/**
 * drop-oldest: adds the oldest entries to `dels` until the batch fits the byte and age budget; when
 * everything older is gone and the batch alone is still too big, drops the batch's oldest puts.
 */
export async function evictOldest(s: EvictScope, dels: Map<bigint, number>, bytes: number, puts: ReadonlyArray<{ seq: bigint; size: number }>): Promise<EvictResult> {
  const { o } = s
  const droppedPuts = new Set<bigint>()
  const now = o.clock.now()
  const ageLimit = o.maxAge > 0 ? now - o.maxAge : -Infinity
  const tooOld = s.oldestAt !== null && s.oldestAt < ageLimit
  if (o.policy !== 'drop-oldest' || (bytes <= o.maxBytes && !tooOld)) return { evicted: 0, bytesAfter: bytes, droppedPuts }
  let evicted = 0
  const it = s.db.iterator({ gte: s.from, lte: s.to })
  try {
    outer: for (let chunk = await it.nextv(SCAN_CHUNK); chunk.length > 0; chunk = await it.nextv(SCAN_CHUNK)) {
      for (const [k, v] of chunk) {
        const seq = readSeq(k, s.prefixLength)
        if (dels.has(seq)) continue
        if (bytes <= o.maxBytes && v.readDoubleBE(2) >= ageLimit) break outer
        const size = chargedSize(v.length)
        dels.set(seq, size)
        bytes -= size
        evicted++
      }
    }
  } finally {
    await it.close()
  }
  for (const p of puts) {
    if (bytes <= o.maxBytes) break
    droppedPuts.add(p.seq)
    bytes -= p.size
  }
  if (evicted + droppedPuts.size > 0) o.logger.warn({ queue: s.name, dropped: evicted + droppedPuts.size }, 'store: queue over budget, dropped oldest entries (policy drop-oldest)')
  return { evicted, bytesAfter: bytes, droppedPuts }
}

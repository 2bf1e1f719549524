import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Clock, Logger, RetainedStore, SessionStore, Status } from '../core/index.ts'
import { systemClock } from '../core/index.ts'
import { LevelHandle, type RepairEvent } from './db.ts'
import { checkFormat } from './format.ts'
import { LevelQueue } from './level-queue.ts'
import { LevelRetainedStore, LevelSessionStore } from './level-sessions.ts'
import type { QueueOptions, SequencedQueue } from './types.ts'

/** What the store takes: where its LevelDB lives, each uplink queue's budget and batching, and LevelDB's memory. */
export interface StoreOptions extends Pick<QueueOptions, 'maxBytes' | 'maxAge' | 'policy' | 'groupCommitWindow' | 'maxBatch'> {
  /** Directory of the one LevelDB (created when missing). */
  dataDir: string
  /** LevelDB memtable size in bytes (up to two are held in memory); 0 keeps LevelDB's default. */
  writeBufferSize: number
  /** LevelDB block cache in bytes; 0 keeps LevelDB's default. */
  cacheSize: number
}

export interface GatewayStore {
  /** Opens (or creates) a queue and restores its state; resolves when it is usable. */
  openQueue(name: string): Promise<SequencedQueue>
  readonly sessions: SessionStore
  readonly retained: RetainedStore
  status(): Status
  close(): Promise<void>
}

/** Reads this process's I/O counters (Linux); null elsewhere. */
export function readProcIo(): { writeBytes: number; wchar: number } | null {
  try {
    const text = readFileSync('/proc/self/io', 'utf8')
    const get = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
    return { writeBytes: get('write_bytes'), wchar: get('wchar') }
  } catch {
    return null
  }
}

function dirBytes(dir: string): number {
  let total = 0
  try {
    for (const f of readdirSync(dir)) total += statSync(join(dir, f)).size
  } catch {
    // the directory may be mid-rename during repair; report what we have
  }
  return total
}

/**
 * Opens the gateway's one LevelDB at `o.dataDir` (repairing or moving aside a corrupt one) with
 * the broker's sessions, retained messages and one queue per uplink in it. `version` (the running
 * fieldgate's) goes into the data format record (format.ts).
 */
export async function openStore(o: StoreOptions, logger: Logger, opts: { clock?: Clock; version?: string } = {}): Promise<GatewayStore> {
  const clock = opts.clock ?? systemClock
  const log = logger.child({ module: 'store' })
  const tuning = { ...(o.writeBufferSize ? { writeBufferSize: o.writeBufferSize } : {}), ...(o.cacheSize ? { cacheSize: o.cacheSize } : {}) }
  const h = await LevelHandle.open(o.dataDir, log, clock, tuning)
  // Before anything reads the data: a layout this version cannot read is refused, not misread.
  try {
    await checkFormat(h.db, h.location, opts.version ?? 'unknown')
  } catch (err) {
    await h.close().catch(() => undefined)
    throw err
  }
  const sessions = await LevelSessionStore.open(h)
  const retained = new LevelRetainedStore(h)
  const queues = new Map<string, LevelQueue>()
  const opening = new Map<string, Promise<LevelQueue>>()
  const io0 = readProcIo()
  const appended0 = { n: 0 }

  const openQueue = (name: string): Promise<LevelQueue> => {
    const ready = queues.get(name)
    if (ready) return Promise.resolve(ready)
    let p = opening.get(name)
    if (!p) {
      const qo = { maxBytes: o.maxBytes, maxAge: o.maxAge, policy: o.policy, groupCommitWindow: o.groupCommitWindow, maxBatch: o.maxBatch, clock, logger: log }
      p = LevelQueue.open(name, h, qo, h.recovered).then((q) => {
        queues.set(name, q)
        appended0.n += q.stats().appended
        return q
      })
      opening.set(name, p)
    }
    return p
  }

  return {
    sessions,
    retained,
    openQueue,
    status(): Status {
      const perQueue: Record<string, unknown> = {}
      let appendedSinceOpen = -appended0.n
      let errors = 0
      let bytes = 0
      for (const [name, q] of queues) {
        const s = q.stats()
        appendedSinceOpen += s.appended
        bytes += s.bytes
        if (s.lastError) errors++
        perQueue[name] = { ...s, oldestAgeMs: s.oldestEnqueuedAt === null ? null : clock.now() - s.oldestEnqueuedAt, batches: q.batches, reads: q.reads }
      }
      const io = readProcIo()
      const per = (a: number | undefined, b: number | undefined): number | null =>
        io0 && a !== undefined && b !== undefined && appendedSinceOpen > 0 ? Math.round((a - b) / appendedSinceOpen) : null
      const diskBytes = dirBytes(h.location)
      const repairs: RepairEvent[] = h.repairs
      const reasons: string[] = []
      if (h.lastWriteError) reasons.push(`writes failing since ${h.lastWriteError}; QoS 1/2 publishes for the uplinks are refused until they succeed`)
      if (errors > 0) reasons.push(`${errors} queue(s) report write errors`)
      if (repairs.length > 0) reasons.push(`database ${repairs.map((r) => r.action).join(', ')} at start`)
      if (bytes > o.maxBytes * 0.9 * Math.max(1, queues.size)) reasons.push('queues above 90% of storage.max_bytes')
      return {
        // Writes failing right now (lastWriteError clears on the next good write) means QoS 1/2 uplink
        // publishes are being refused: that is down, not degraded, for whoever watches /healthz.
        health: h.lastWriteError ? 'down' : reasons.length === 0 ? 'ok' : 'degraded',
        ...(reasons.length > 0 ? { reason: reasons.join('; ') } : {}),
        details: {
          dataDir: h.location,
          queues: perQueue,
          disk: { bytes: diskBytes, budgetBytesPerQueue: o.maxBytes, maxAgeMs: o.maxAge, policy: o.policy },
          lastWriteError: h.lastWriteError,
          // /proc/self/io write_bytes counts what reached the block layer (what wears an SD card).
          writeBytesPerMessage: per(io?.writeBytes, io0?.writeBytes),
          wcharPerMessage: per(io?.wchar, io0?.wchar),
          repairs,
        },
      }
    },
    async close(): Promise<void> {
      for (const q of queues.values()) await q.close().catch((err: unknown) => log.warn({ queue: q.name, err: String(err) }, 'store: queue close failed'))
      await sessions.close()
      await retained.close()
      await h.close()
    },
  }
}

import type { Message, QueueEntry, QueueStats, TimerHandle } from '../core/index.ts'
import { errorMessage, FieldgateError } from '../core/index.ts'
import { decodeEntry, encodeEntry, readSeq } from './codec.ts'
import type { BatchOp, LevelHandle } from './db.ts'
import { evictOldest, fullReason, maxBig, parseMeta, type Meta } from './queue-budget.ts'
import { chargedSize, type QueueOptions, type SequencedQueue } from './types.ts'

interface PendingAppend {
  items: Array<{ seq: bigint; value: Buffer; size: number; qos: number }>
  resolve: (seqs: bigint[]) => void
  reject: (err: unknown) => void
}

interface Waiter {
  resolve: () => void
  reject: (err: unknown) => void
}

const MAX_SEQ = (1n << 64n) - 1n
const PEEK_BYTES = 1 << 20
/** After a failed write with only acks left, try again this much later (no append may come to carry them). */
const ACK_RETRY_MS = 1000

/**
 * FIFO of one uplink in the shared LevelDB. Keys: `q\0<name>\0` + 8-byte big-endian sequence.
 * Appends within the group-commit window share one batch (one fsync); acks are deletes that ride
 * along in the next batch. A metadata record written in every batch keeps depth/bytes/counters, so
 * opening a deep queue needs no scan. Only sizes of peeked-but-unacked entries are kept in memory.
 */
export class LevelQueue implements SequencedQueue {
  private readonly prefix: Buffer
  private readonly metaKey: Buffer
  private nextSeq = 0n
  /** No live entry has a lower sequence. */
  private headSeq = 0n
  private readPos: bigint | null = null
  private oldestAt: number | null = null
  private depth = 0
  private bytes = 0
  private appended = 0
  private acked = 0
  private dropped = 0
  private rejected = 0
  private lastError: string | null = null
  /**
   * Peeked-but-unacked entries, in sequence order (peeks read forward; Map keeps insertion order).
   * Every live entry up to readPos is here, so the first one is the queue's head.
   */
  private readonly sizes = new Map<bigint, { size: number; at: number }>()
  private pendingAppends: PendingAppend[] = []
  private pendingCount = 0
  private pendingBytes = 0
  private pendingAcks = new Set<bigint>()
  private ackWaiters: Waiter[] = []
  private forceBudget = false
  private timer: TimerHandle | null = null
  private sweep: TimerHandle | null = null
  private retry: TimerHandle | null = null
  private looping: Promise<void> | null = null
  private lock: Promise<unknown> = Promise.resolve()
  private closed = false
  /** Number of batches written, and of peeks (reads from disk), for tests, status and benchmarks. */
  batches = 0
  reads = 0

  private constructor(
    readonly name: string,
    private readonly h: LevelHandle,
    private readonly o: QueueOptions,
  ) {
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(name)) throw new TypeError(`queue name must be 1-100 of A-Z a-z 0-9 _ . -, got "${name}"`)
    this.prefix = Buffer.from(`q\0${name}\0`, 'latin1')
    this.metaKey = Buffer.from(`m\0q\0${name}`, 'latin1')
  }

  /** Opens (or creates) the queue; `recount` rebuilds stats by scanning, after a repair. */
  static async open(name: string, h: LevelHandle, o: QueueOptions, recount = false): Promise<LevelQueue> {
    const q = new LevelQueue(name, h, o)
    await q.load(recount)
    if (o.maxAge > 0 && o.policy === 'drop-oldest') {
      const every = Math.max(1000, Math.min(60_000, Math.floor(o.maxAge / 10)))
      q.sweep = o.clock.setInterval(() => q.expireIfOld(), every)
      q.sweep.unref?.()
    }
    return q
  }

  private key(seq: bigint): Buffer {
    const k = Buffer.allocUnsafe(this.prefix.length + 8)
    this.prefix.copy(k, 0)
    k.writeBigUInt64BE(seq, this.prefix.length)
    return k
  }

  private async load(recount: boolean): Promise<void> {
    const raw = await this.h.db.get(this.metaKey)
    const meta = raw === undefined || recount ? null : parseMeta(raw)
    if (meta) {
      Object.assign(this, { depth: meta.depth, bytes: meta.bytes, appended: meta.appended, acked: meta.acked, dropped: meta.dropped, rejected: meta.rejected })
      this.nextSeq = BigInt(meta.nextSeq)
    } else {
      // No trustworthy metadata (first open, or the database was repaired): count once.
      const it = this.h.db.iterator({ gte: this.key(0n), lte: this.key(MAX_SEQ) })
      let depth = 0
      let bytes = 0
      for (let chunk = await it.nextv(4096); chunk.length > 0; chunk = await it.nextv(4096)) {
        for (const [, v] of chunk) bytes += chargedSize(v.length)
        depth += chunk.length
      }
      await it.close()
      this.depth = depth
      this.bytes = bytes
      if (recount) this.o.logger.warn({ queue: this.name, depth }, 'store: queue stats recounted after repair')
    }
    const last = await this.h.db.keys({ gte: this.key(0n), lte: this.key(MAX_SEQ), reverse: true, limit: 1 }).all()
    if (last[0]) this.nextSeq = maxBig(this.nextSeq, readSeq(last[0], this.prefix.length) + 1n)
    await this.refreshHead()
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn)
    this.lock = p.catch(() => undefined)
    return p
  }

  append(ms: Message[]): Promise<void> {
    return this.appendSeq(ms).then(() => undefined)
  }

  appendSeq(ms: Message[]): Promise<bigint[]> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`))
    if (ms.length === 0) return Promise.resolve([])
    const now = this.o.clock.now()
    const items = ms.map((m) => {
      const value = encodeEntry(m, now)
      return { seq: 0n, value, size: chargedSize(value.length), qos: m.qos }
    })
    const total = items.reduce((s, i) => s + i.size, 0)
    const full = fullReason(this.o, this.bytes + this.pendingBytes, this.oldestAt, total, now)
    if (full) {
      this.rejected += ms.length
      return Promise.reject(new FieldgateError('QUEUE_FULL', `queue ${this.name} is full: ${full}`, { details: { queue: this.name, policy: this.o.policy } }))
    }
    for (const i of items) i.seq = this.nextSeq++
    return new Promise<bigint[]>((resolve, reject) => {
      this.pendingAppends.push({ items, resolve, reject })
      this.pendingCount += items.length
      this.pendingBytes += total
      this.requestFlush(this.pendingCount >= this.o.maxBatch)
    })
  }

  peek(n: number): Promise<QueueEntry[]> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`))
    return this.exclusive(async () => {
      await this.h.ready()
      this.reads++
      // Continue after the last peeked key: re-seeking from the start would walk every tombstone.
      const from = this.readPos !== null && this.readPos >= this.headSeq ? { gt: this.key(this.readPos) } : { gte: this.key(this.headSeq) }
      // classic-level stops a nextv() at highWaterMarkBytes (16 KiB by default, ~160 small entries): each
      // stop is another thread-pool round trip, which bounded a backlog drain. 1 MiB reads a read-ahead of
      // small messages in one; n still bounds what is held.
      const it = this.h.db.iterator({ ...from, lte: this.key(MAX_SEQ), limit: n, highWaterMarkBytes: PEEK_BYTES })
      // nextv() may return fewer rows than asked (classic-level stops at ~16 KiB per call):
      // keep reading until n rows or the end, so a short read never looks like an empty queue.
      const rows: Array<[Buffer, Buffer]> = []
      try {
        while (rows.length < n) {
          const chunk = await it.nextv(n - rows.length)
          if (chunk.length === 0) break
          rows.push(...chunk)
        }
      } finally {
        await it.close()
      }
      const out: QueueEntry[] = []
      for (const [k, v] of rows) {
        const seq = readSeq(k, this.prefix.length)
        const { message, enqueuedAt } = decodeEntry(v)
        if (!this.sizes.has(seq)) this.sizes.set(seq, { size: chargedSize(v.length), at: enqueuedAt })
        this.readPos = seq
        out.push({ seq, message, enqueuedAt })
      }
      return out
    })
  }

  /** Next peek starts again at the oldest entry (after a consumer lost its in-flight window). */
  rewind(): void {
    this.readPos = null
  }

  ack(seqs: bigint[]): Promise<void> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`))
    if (seqs.length === 0) return Promise.resolve()
    for (const s of seqs) this.pendingAcks.add(s)
    return new Promise<void>((resolve, reject) => {
      this.ackWaiters.push({ resolve, reject })
      this.requestFlush(this.pendingAcks.size >= this.o.maxBatch)
    })
  }

  private expireIfOld(): void {
    if (this.o.maxAge > 0 && this.oldestAt !== null && this.o.clock.now() - this.oldestAt > this.o.maxAge) {
      this.forceBudget = true
      this.requestFlush(true)
    }
  }

  private hasWork(): boolean {
    return this.pendingAppends.length > 0 || this.pendingAcks.size > 0 || this.forceBudget
  }

  private requestFlush(now: boolean): void {
    if (this.looping) return // the running loop picks up whatever is pending when its write finishes
    if (!now && this.o.groupCommitWindow > 0) {
      if (!this.timer) {
        this.timer = this.o.clock.setTimeout(() => {
          this.timer = null
          this.startLoop()
        }, this.o.groupCommitWindow)
      }
      return
    }
    if (this.timer) {
      this.o.clock.clearTimeout(this.timer)
      this.timer = null
    }
    if (now) this.startLoop()
    else setImmediate(() => this.startLoop())
  }

  private startLoop(): void {
    if (this.looping || !this.hasWork()) return
    this.looping = (async () => {
      // One batch per turn of the lock: a peek waiting behind a busy ack stream gets in between
      // batches instead of after all of them. Stop after a failed write: a broken disk must not turn
      // this into a busy loop.
      while (this.hasWork()) if (!(await this.exclusive(() => this.flushOnce()))) return false
      return true
    })()
      .catch(() => false)
      .then((ok) => {
        this.looping = null
        // An append or ack that came after the loop's last check found `looping` still set and left its
        // work to us: without this it waited for the next append (a drain's last acks: forever).
        if (ok ? this.hasWork() : this.pendingAppends.length > 0) this.requestFlush(false)
        else if (!ok && this.hasWork()) this.retryLater()
      })
  }

  /**
   * Acks whose delete failed (a full disk) would otherwise wait for the next append: after a drain there
   * may be none, and the delivered entries would stay on disk, counted, and be sent again after a restart.
   */
  private retryLater(): void {
    if (this.retry || this.closed) return
    this.retry = this.o.clock.setTimeout(() => {
      this.retry = null
      this.requestFlush(true)
    }, ACK_RETRY_MS)
    this.retry.unref?.()
  }

  /** Writes everything pending now (stop/close); gives up after a failed write rather than spin. */
  async flush(): Promise<void> {
    for (let guard = 0; guard < 100; guard++) {
      if (this.timer) {
        this.o.clock.clearTimeout(this.timer)
        this.timer = null
      }
      this.startLoop()
      if (this.looping) await this.looping
      if (!this.hasWork() || this.lastError !== null) return
    }
  }

  private takeAppends(): PendingAppend[] {
    const taken: PendingAppend[] = []
    let count = 0
    while (this.pendingAppends.length > 0 && (count === 0 || count + (this.pendingAppends[0]?.items.length ?? 0) <= this.o.maxBatch)) {
      const a = this.pendingAppends.shift() as PendingAppend
      count += a.items.length
      this.pendingCount -= a.items.length
      for (const i of a.items) this.pendingBytes -= i.size
      taken.push(a)
    }
    return taken
  }

  /** Writes one batch; returns false when the write failed. */
  private async flushOnce(): Promise<boolean> {
    const appends = this.takeAppends()
    const acks = [...this.pendingAcks]
    const ackWaiters = this.ackWaiters
    this.pendingAcks = new Set()
    this.ackWaiters = []
    this.forceBudget = false
    try {
      // ackSizes and eviction read first: reopen here, or a closed database fails them before write() could
      await this.h.ready()
      const dels = await this.ackSizes(acks)
      const ackedCount = dels.size
      const puts = appends.flatMap((a) => a.items)
      let bytes = this.bytes + puts.reduce((s, i) => s + i.size, 0)
      for (const size of dels.values()) bytes -= size
      const { evicted, bytesAfter, droppedPuts } = await evictOldest(
        { db: this.h.db, o: this.o, name: this.name, from: this.key(this.headSeq), to: this.key(MAX_SEQ), prefixLength: this.prefix.length, oldestAt: this.oldestAt },
        dels,
        bytes,
        puts,
      )
      bytes = bytesAfter
      const written = puts.filter((p) => !droppedPuts.has(p.seq))
      const depth = this.depth + written.length - dels.size
      const meta: Meta = {
        // May run ahead of what is written (pending appends): a gap in sequences is harmless.
        nextSeq: this.nextSeq.toString(),
        depth,
        bytes,
        appended: this.appended + puts.length,
        acked: this.acked + ackedCount,
        dropped: this.dropped + evicted + droppedPuts.size,
        rejected: this.rejected,
      }
      const ops: BatchOp[] = written.map((p) => ({ type: 'put', key: this.key(p.seq), value: p.value }))
      for (const seq of dels.keys()) ops.push({ type: 'del', key: this.key(seq) })
      ops.push({ type: 'put', key: this.metaKey, value: Buffer.from(JSON.stringify(meta)) })
      // QoS 0 and acks may be lost in a power cut (at most once / a bounded duplicate); QoS 1/2 may not.
      await this.h.write(ops, written.some((p) => p.qos > 0))
      this.batches++
      const wasEmpty = this.depth === 0
      Object.assign(this, { depth, bytes, appended: meta.appended, acked: meta.acked, dropped: meta.dropped })
      this.lastError = null
      for (const seq of dels.keys()) this.sizes.delete(seq)
      if (dels.size > 0) await this.advanceHead()
      else if (wasEmpty && written.length > 0) this.oldestAt = decodeEntry((written[0] as { value: Buffer }).value).enqueuedAt
      for (const a of appends) a.resolve(a.items.map((i) => i.seq))
      for (const w of ackWaiters) w.resolve()
      return true
    } catch (err) {
      this.lastError = errorMessage(err)
      for (const s of acks) this.pendingAcks.add(s) // retried with the next batch
      const e = err instanceof FieldgateError ? err : new FieldgateError('QUEUE_WRITE_FAILED', `queue ${this.name}: ${errorMessage(err)}`, { cause: err })
      for (const a of appends) a.reject(e)
      for (const w of ackWaiters) w.reject(e)
      return false
    }
  }

  /** Sizes of acked entries that exist (unknown ones are looked up; double acks count once). */
  private async ackSizes(acks: bigint[]): Promise<Map<bigint, number>> {
    const dels = new Map<bigint, number>()
    const unknown: bigint[] = []
    for (const s of acks) {
      const size = this.sizes.get(s)?.size
      if (size !== undefined) dels.set(s, size)
      else if (s >= this.headSeq) unknown.push(s)
    }
    if (unknown.length > 0) {
      const vals = await this.h.db.getMany(unknown.map((s) => this.key(s)))
      vals.forEach((v, i) => {
        if (v !== undefined) dels.set(unknown[i] as bigint, chargedSize(v.length))
      })
    }
    return dels
  }

  /**
   * After deletes: the oldest peeked-but-unacked entry is the head when there is one (no read needed,
   * so a draining consumer's next peek does not wait for it); otherwise ask the database.
   */
  private async advanceHead(): Promise<void> {
    if (this.readPos !== null) {
      for (const [seq, e] of this.sizes) {
        this.headSeq = seq
        this.oldestAt = e.at
        return
      }
    }
    await this.refreshHead()
  }

  /** Finds the oldest live entry: its sequence bounds later seeks, its time gives the queue's age. */
  private async refreshHead(): Promise<void> {
    const rows = await this.h.db.iterator({ gte: this.key(this.headSeq), lte: this.key(MAX_SEQ), limit: 1 }).all()
    const first = rows[0]
    if (first) {
      this.headSeq = readSeq(first[0], this.prefix.length)
      this.oldestAt = first[1].readDoubleBE(2)
    } else {
      this.oldestAt = null
      // Skip the tombstones just written; nothing below the oldest unwritten append can appear.
      this.headSeq = this.pendingAppends[0]?.items[0]?.seq ?? this.nextSeq
    }
  }

  stats(): QueueStats {
    return {
      depth: this.depth,
      bytes: this.bytes,
      oldestEnqueuedAt: this.oldestAt,
      appended: this.appended,
      acked: this.acked,
      dropped: this.dropped,
      rejected: this.rejected,
      lastError: this.lastError,
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    if (this.sweep) this.o.clock.clearInterval(this.sweep)
    await this.flush()
    this.closed = true
    // after the flush: a failed one may have armed it again
    if (this.retry) this.o.clock.clearTimeout(this.retry)
    this.retry = null
  }
}

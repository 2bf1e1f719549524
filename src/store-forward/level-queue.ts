import type { Message, QueueEntry, QueueStats, TimerHandle } from '../core/index.ts'
import { errorMessage, FieldgateError } from '../core/index.ts'
import { decodeQueueEntry, encodeEntry, readSeq, writeSeq } from './codec.ts'
import type { BatchOp, LevelHandle } from './db.ts'
import { evictOldest, parseMeta } from './queue-budget.ts'
import { QueueState } from './queue-state.ts'
import type { Batch, Item, Plan, QueueCommand, QueueTimer } from './queue-types.ts'
import { chargedSize, type QueueOptions, type SequencedQueue } from './types.ts'

const MAX_SEQ = (1n << 64n) - 1n
const PEEK_BYTES = 1 << 20

interface Waiter {
  resolve: (seqs: bigint[]) => void
  reject: (err: unknown) => void
}

/**
 * FIFO of one uplink in the shared LevelDB. Keys: `q\0<name>\0` + 8-byte big-endian sequence.
 * Appends within the group-commit window share one batch (one fsync); acks are deletes that ride
 * along in the next batch, or wait up to ACK_WINDOW_MS for one. A metadata record written in every batch keeps depth/bytes/counters, so
 * opening a deep queue needs no scan. The decisions (sequences, budget, what goes in which batch and
 * when, the read position) are `QueueState`'s; this shell carries out its commands on the disk and the
 * clock, keeps the callers' promises, and takes turns between batches and reads (one lock).
 */
export class LevelQueue implements SequencedQueue {
  private readonly prefix: Buffer
  private readonly metaKey: Buffer
  private readonly s: QueueState
  /** Callers of append/ack by ticket. */
  private readonly waiting = new Map<number, Waiter>()
  private readonly timers = new Map<QueueTimer, { h: TimerHandle } | { i: NodeJS.Immediate }>()
  private idleWaiters: Array<() => void> = []
  private sweep: TimerHandle | null = null
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
    this.s = new QueueState(o)
  }

  /** Opens (or creates) the queue; `recount` rebuilds stats by scanning, after a repair. */
  static async open(name: string, h: LevelHandle, o: QueueOptions, recount = false): Promise<LevelQueue> {
    const q = new LevelQueue(name, h, o)
    await q.load(recount)
    if (o.maxAge > 0 && o.policy === 'drop-oldest') {
      const every = Math.max(1000, Math.min(60_000, Math.floor(o.maxAge / 10)))
      q.sweep = o.clock.setInterval(() => {
        q.s.sweep(o.clock.now())
        q.run()
      }, every)
      q.sweep.unref?.()
    }
    return q
  }

  private key(seq: bigint): Buffer {
    const k = Buffer.allocUnsafe(this.prefix.length + 8)
    k.set(this.prefix, 0)
    writeSeq(k, this.prefix.length, seq)
    return k
  }

  private async load(recount: boolean): Promise<void> {
    const raw = await this.h.db.get(this.metaKey)
    let meta = raw === undefined || recount ? null : parseMeta(raw)
    if (!meta) {
      // No trustworthy metadata (first open, or the database was repaired): count once.
      const it = this.h.db.iterator({ gte: this.key(0n), lte: this.key(MAX_SEQ) })
      let depth = 0
      let bytes = 0
      for (let chunk = await it.nextv(4096); chunk.length > 0; chunk = await it.nextv(4096)) {
        for (const [, v] of chunk) bytes += chargedSize(v.length)
        depth += chunk.length
      }
      await it.close()
      meta = { nextSeq: '0', depth, bytes, appended: 0, acked: 0, dropped: 0, rejected: 0 }
      if (recount) this.o.logger.warn({ queue: this.name, depth }, 'store: queue stats recounted after repair')
    }
    const last = await this.h.db.keys({ gte: this.key(0n), lte: this.key(MAX_SEQ), reverse: true, limit: 1 }).all()
    this.s.restore(meta, last[0] ? readSeq(last[0], this.prefix.length) : null)
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
    const items: Item[] = ms.map((m) => {
      const value = encodeEntry(m, now)
      return { seq: 0n, value, size: chargedSize(value.length), qos: m.qos, at: now }
    })
    const r = this.s.append(items, now)
    if ('full' in r) return Promise.reject(new FieldgateError('QUEUE_FULL', `queue ${this.name} is full: ${r.full}`, { details: { queue: this.name, policy: this.o.policy } }))
    const p = new Promise<bigint[]>((resolve, reject) => this.waiting.set(r.id, { resolve, reject }))
    this.run()
    return p
  }

  peek(n: number): Promise<QueueEntry[]> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`))
    return this.exclusive(async () => {
      await this.h.ready()
      this.reads++
      // Continue after the last peeked key: re-seeking from the start would walk every tombstone.
      const at = this.s.readFrom()
      const from = 'after' in at ? { gt: this.key(at.after) } : { gte: this.key(at.from) }
      // classic-level stops a nextv() at highWaterMarkBytes (16 KiB by default, ~160 small entries): each
      // stop is another thread-pool round trip, which bounded a backlog drain. 1 MiB reads a read-ahead of
      // small messages in one; n still bounds what is held.
      const it = this.h.db.iterator({ ...from, lte: this.key(MAX_SEQ), limit: n, highWaterMarkBytes: PEEK_BYTES })
      // nextv() may return fewer rows than asked: keep reading until n rows or the end, so a short read
      // never looks like an empty queue.
      const chunks: Array<Array<[Buffer, Buffer]>> = []
      let got = 0
      try {
        while (got < n) {
          const chunk = await it.nextv(n - got)
          if (chunk.length === 0) break
          chunks.push(chunk)
          got += chunk.length
        }
      } finally {
        await it.close()
      }
      // The read position moves only once the whole read succeeded: a failed one skips nothing.
      const out: QueueEntry[] = []
      const seqAt = this.prefix.length
      for (const chunk of chunks) {
        for (const [k, v] of chunk) {
          const e = decodeQueueEntry(readSeq(k, seqAt), v)
          this.s.read(e.seq, chargedSize(v.length), e.enqueuedAt)
          out.push(e)
        }
      }
      return out
    })
  }

  /** Next peek starts again at the oldest entry (after a consumer lost its in-flight window). */
  rewind(): void {
    this.s.rewind()
  }

  ack(seqs: bigint[]): Promise<void> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`))
    if (seqs.length === 0) return Promise.resolve()
    const id = this.s.ack(seqs)
    const p = new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve: () => resolve(), reject }))
    this.run()
    return p
  }

  /** Carries out what the state machine asked for; `failure` is the error of a batch that just failed. */
  private run(failure?: unknown): void {
    for (const c of this.s.take()) this.exec(c, failure)
  }

  private exec(c: QueueCommand, failure: unknown): void {
    switch (c.t) {
      case 'write':
        void this.exclusive(() => this.writeBatch())
        return
      case 'timer': {
        const kind = c.kind
        const fire = (): void => {
          this.timers.delete(kind)
          this.s.timerFired(kind)
          this.run()
        }
        if (c.ms === 0) this.timers.set(kind, { i: setImmediate(fire) })
        else {
          const h = this.o.clock.setTimeout(fire, c.ms)
          if (kind === 'retry') h.unref?.()
          this.timers.set(kind, { h })
        }
        return
      }
      case 'clear': {
        const t = this.timers.get(c.kind)
        if (t && 'i' in t) clearImmediate(t.i)
        else if (t) this.o.clock.clearTimeout(t.h)
        this.timers.delete(c.kind)
        return
      }
      case 'resolve':
        for (const a of c.appends) this.settle(a.id)?.resolve(a.items.map((i) => i.seq))
        for (const id of c.ackIds) this.settle(id)?.resolve([])
        return
      case 'reject': {
        const e = failure instanceof FieldgateError ? failure : new FieldgateError('QUEUE_WRITE_FAILED', `queue ${this.name}: ${errorMessage(failure)}`, { cause: failure })
        for (const id of c.ids) this.settle(id)?.reject(e)
        return
      }
      case 'idle': {
        const ws = this.idleWaiters
        this.idleWaiters = []
        for (const w of ws) w()
      }
    }
  }

  private settle(id: number): Waiter | undefined {
    const w = this.waiting.get(id)
    this.waiting.delete(id)
    return w
  }

  /** Writes everything pending now (stop/close); gives up after a failed write rather than spin. */
  async flush(): Promise<void> {
    for (let guard = 0; guard < 100; guard++) {
      this.s.flushNow()
      this.run()
      if (this.s.isWriting) await new Promise<void>((r) => this.idleWaiters.push(r))
      if (!this.s.hasWork() || this.s.lastError !== null) return
    }
  }

  /** One batch, in its turn of the lock (a peek waiting behind a busy ack stream gets in between batches). */
  private async writeBatch(): Promise<void> {
    const b = this.s.takeBatch()
    try {
      // the lookups and eviction read first: reopen here, or a closed database fails them before write() could
      await this.h.ready()
      const plan = await this.plan(b)
      await this.h.write(this.ops(plan), plan.sync)
      this.batches++
      // The batch is on disk whatever the head lookup does; a failed one is retried after the next batch.
      if (this.s.committed(plan)) await this.refreshHead().catch(() => undefined)
    } catch (err) {
      this.s.failed(b, errorMessage(err))
      this.run(err)
      return
    }
    this.s.finished(b)
    this.run()
  }

  /** Sizes of acked entries that exist (unknown ones are looked up; double acks count once), then the budget. */
  private async plan(b: Batch): Promise<Plan> {
    const { dels, unknown } = this.s.knownSizes(b.acks)
    if (unknown.length > 0) {
      const vals = await this.h.db.getMany(unknown.map((s) => this.key(s)))
      vals.forEach((v, i) => {
        if (v !== undefined) dels.set(unknown[i] as bigint, chargedSize(v.length))
      })
    }
    const ev = await evictOldest(
      { db: this.h.db, o: this.o, name: this.name, from: this.key(this.s.headSeq), to: this.key(MAX_SEQ), prefixLength: this.prefix.length, oldestAt: this.s.oldestAt },
      dels,
      this.s.bytesAfter(b, dels),
      b.appends.flatMap((a) => a.items),
    )
    return this.s.plan(b, dels, ev)
  }

  private ops(plan: Plan): BatchOp[] {
    const ops: BatchOp[] = plan.puts.map((p) => ({ type: 'put', key: this.key(p.seq), value: p.value }))
    for (const seq of plan.dels.keys()) ops.push({ type: 'del', key: this.key(seq) })
    ops.push({ type: 'put', key: this.metaKey, value: Buffer.from(JSON.stringify(plan.meta)) })
    return ops
  }

  /** Finds the oldest live entry: its sequence bounds later seeks, its time gives the queue's age. */
  private async refreshHead(): Promise<void> {
    const rows = await this.h.db.iterator({ gte: this.key(this.s.headSeq), lte: this.key(MAX_SEQ), limit: 1 }).all()
    const first = rows[0]
    this.s.head(first ? { seq: readSeq(first[0], this.prefix.length), at: first[1].readDoubleBE(2) } : null)
  }

  stats(): QueueStats {
    return this.s.stats()
  }

  async close(): Promise<void> {
    if (this.closed) return
    if (this.sweep) this.o.clock.clearInterval(this.sweep)
    await this.flush()
    this.closed = true
    // after the flush: a failed one may have armed a retry
    this.s.close()
    this.run()
  }
}

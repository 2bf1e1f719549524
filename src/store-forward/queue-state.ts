import type { QueueStats } from '../core/index.ts'
import { fullReason, maxBig, type Meta } from './queue-budget.ts'
import { ACK_RETRY_MS, ACK_WINDOW_MS, type Batch, type Eviction, type Item, type PendingAppend, type Plan, type QueueCommand, type QueueTimer } from './queue-types.ts'
import { ReadWindow } from './queue-reads.ts'
import type { QueueOptions } from './types.ts'

/**
 * The bookkeeping of one durable FIFO, without IO: sequence numbers, the budget check, group commit
 * (which appends and acks share a batch, and when it is written), the counters of the metadata record,
 * and (in `ReadWindow`) the read position and the entries read and not yet deleted. Inputs are calls
 * (append, ack, a timer fired, a batch written or failed, entries read); outputs are `QueueCommand`s
 * collected until `take()`. `LevelQueue` is its IO shell. One batch is written at a time; while it is
 * out, appends and acks wait for the next one.
 */
export class QueueState {
  private out: QueueCommand[] = []
  private nextSeq = 0n
  /** No live entry has a lower sequence. */
  headSeq = 0n
  /** The head may be further on than headSeq says (a lookup after deletes failed): look again after the next batch. */
  private headStale = false
  oldestAt: number | null = null
  /** The counters of the metadata record, as last written (`rejected` rides along with the next batch). */
  private c = { depth: 0, bytes: 0, appended: 0, acked: 0, dropped: 0, rejected: 0 }
  lastError: string | null = null
  private readonly reads = new ReadWindow()
  private pendingAppends: PendingAppend[] = []
  private pendingCount = 0
  private pendingBytes = 0
  /** Bytes of the batch being written: held against the budget until it lands or fails. */
  private writingBytes = 0
  private pendingAcks = new Set<bigint>()
  private ackIds: number[] = []
  private forceBudget = false
  private nextId = 1
  private writing = false
  private closed = false
  private readonly timers = new Set<QueueTimer>()

  constructor(private readonly o: Pick<QueueOptions, 'maxBytes' | 'maxAge' | 'policy' | 'maxBatch' | 'groupCommitWindow'>) {}

  /** The commands produced since the last call, in order. */
  take(): QueueCommand[] {
    const c = this.out
    this.out = []
    return c
  }

  /** At open: the counters of the metadata record (or a recount), and the highest sequence on disk. */
  restore(meta: Partial<Meta> & { depth: number; bytes: number }, lastSeq: bigint | null): void {
    this.c = { depth: meta.depth, bytes: meta.bytes, appended: meta.appended ?? 0, acked: meta.acked ?? 0, dropped: meta.dropped ?? 0, rejected: meta.rejected ?? 0 }
    const fromMeta = meta.nextSeq === undefined ? 0n : BigInt(meta.nextSeq)
    this.nextSeq = lastSeq === null ? fromMeta : maxBig(fromMeta, lastSeq + 1n)
  }

  /** Queues an append for the next batch (a ticket), or refuses it (the budget's reason). */
  append(items: Item[], now: number): { id: number } | { full: string } {
    const total = items.reduce((s, i) => s + i.size, 0)
    const full = fullReason(this.o, this.c.bytes + this.writingBytes + this.pendingBytes, this.oldestAt, total, now)
    if (full) {
      this.c.rejected += items.length
      return { full }
    }
    for (const i of items) i.seq = this.nextSeq++
    const id = this.nextId++
    this.pendingAppends.push({ id, items })
    this.pendingCount += items.length
    this.pendingBytes += total
    this.request(this.pendingCount >= this.o.maxBatch)
    return { id }
  }

  /** Queues deletes for the next batch; returns the ticket resolved once they are written. */
  ack(seqs: bigint[]): number {
    for (const s of seqs) this.pendingAcks.add(s)
    const id = this.nextId++
    this.ackIds.push(id)
    // Deletes carry no promise to a publisher (one lost in a crash is sent again: a duplicate), so acks
    // alone wait for the ack window and share a batch; appends, max_batch acks, or a retry take them sooner.
    if (this.writing) return id
    if (this.pendingAcks.size >= this.o.maxBatch) this.request(true)
    else if (!this.timers.has('commit') && !this.timers.has('acks') && !this.timers.has('retry')) this.arm('acks', ACK_WINDOW_MS)
    return id
  }

  hasWork(): boolean {
    return this.pendingAppends.length > 0 || this.pendingAcks.size > 0 || this.forceBudget
  }

  get isWriting(): boolean {
    return this.writing
  }

  /** Group commit: a full batch goes now, otherwise after the window (0: the next turn of the event loop). */
  private request(now: boolean): void {
    if (this.writing) return // the batch being written is followed at once by one with whatever is pending
    if (now) {
      this.clear('commit')
      this.startWrite()
    } else if (!this.timers.has('commit')) this.arm('commit', this.o.groupCommitWindow)
  }

  private startWrite(): void {
    if (this.writing || !this.hasWork()) return
    this.clear('acks')
    this.writing = true
    this.out.push({ t: 'write' })
  }

  private arm(kind: QueueTimer, ms: number): void {
    this.timers.add(kind)
    this.out.push({ t: 'timer', kind, ms })
  }

  private clear(kind: QueueTimer): void {
    if (this.timers.delete(kind)) this.out.push({ t: 'clear', kind })
  }

  timerFired(kind: QueueTimer): void {
    this.timers.delete(kind)
    if (kind === 'commit' || kind === 'acks') this.startWrite()
    else if (kind === 'linger') this.next()
    else this.request(true)
  }

  /** Write what is pending now, without waiting for the window (stop, close). */
  flushNow(): void {
    this.clear('commit')
    this.clear('acks')
    if (this.timers.has('linger')) {
      this.clear('linger')
      this.next()
    } else this.startWrite()
  }

  /** The age sweep (drop-oldest with storage.max_age): when the oldest entry is too old, a batch evicts. */
  sweep(now: number): void {
    if (this.o.maxAge > 0 && this.oldestAt !== null && now - this.oldestAt > this.o.maxAge) {
      this.forceBudget = true
      this.request(true)
    }
  }

  close(): void {
    this.closed = true
    this.clear('commit')
    this.clear('acks')
    this.clear('retry')
  }

  /** Takes the next batch: whole appends up to maxBatch items (at least one), and every pending ack. */
  takeBatch(): Batch {
    const appends: PendingAppend[] = []
    let count = 0
    while (this.pendingAppends.length > 0 && (count === 0 || count + (this.pendingAppends[0]?.items.length ?? 0) <= this.o.maxBatch)) {
      const a = this.pendingAppends.shift() as PendingAppend
      count += a.items.length
      this.pendingCount -= a.items.length
      for (const i of a.items) {
        this.pendingBytes -= i.size
        this.writingBytes += i.size
      }
      appends.push(a)
    }
    const batch = { appends, acks: [...this.pendingAcks], ackIds: this.ackIds }
    this.pendingAcks = new Set()
    this.ackIds = []
    this.forceBudget = false
    return batch
  }

  /** Acked sequences whose size is known from a read; the others (at or above the head) must be looked up. */
  knownSizes(acks: bigint[]): { dels: Map<bigint, number>; unknown: bigint[] } {
    const dels = new Map<bigint, number>()
    const unknown: bigint[] = []
    for (const s of acks) {
      const size = this.reads.sizeOf(s)
      if (size !== undefined) dels.set(s, size)
      else if (s >= this.headSeq) unknown.push(s)
    }
    return { dels, unknown }
  }

  /** Bytes the queue would hold after the batch, before any eviction. */
  bytesAfter(batch: Batch, dels: Map<bigint, number>): number {
    let bytes = this.c.bytes
    for (const a of batch.appends) for (const i of a.items) bytes += i.size
    for (const size of dels.values()) bytes -= size
    return bytes
  }

  /** The batch's writes once its deletes (acks that exist, evictions) are known. */
  plan(batch: Batch, dels: Map<bigint, number>, ev: Eviction): Plan {
    const all = batch.appends.flatMap((a) => a.items)
    const puts = ev.droppedPuts.size > 0 ? all.filter((p) => !ev.droppedPuts.has(p.seq)) : all
    let ackedCount = 0
    for (const s of batch.acks) if (dels.has(s)) ackedCount++
    const meta: Meta = {
      // May run ahead of what is written (pending appends): a gap in sequences is harmless.
      nextSeq: this.nextSeq.toString(),
      depth: this.c.depth + puts.length - dels.size,
      bytes: ev.bytesAfter,
      appended: this.c.appended + all.length,
      acked: this.c.acked + ackedCount,
      dropped: this.c.dropped + ev.evicted + ev.droppedPuts.size,
      rejected: this.c.rejected,
    }
    return { puts, dels, meta, sync: puts.some((p) => p.qos > 0) }
  }

  /** The plan's write succeeded. Returns whether the head must now be looked up on disk (then `head()`). */
  committed(plan: Plan): boolean {
    const wasEmpty = this.c.depth === 0
    const { depth, bytes, appended, acked, dropped } = plan.meta
    this.c = { ...this.c, depth, bytes, appended, acked, dropped }
    this.writingBytes = 0
    this.lastError = null
    this.reads.deleted(plan.dels.keys())
    if (plan.dels.size > 0) {
      const first = this.reads.head()
      // No read entry left to give the head: ask the disk.
      this.headStale = first === undefined
      if (first) {
        this.headSeq = first.seq
        this.oldestAt = first.at
      }
    } else if (wasEmpty && plan.puts.length > 0) this.oldestAt = (plan.puts[0] as Item).at
    return this.headStale
  }

  /**
   * The batch is done (written, and the head looked up if asked): its callers hear. The next batch starts
   * at once with the appends pending, or, if none are, at the end of this turn of the event loop with
   * whatever those callers sent back meanwhile: a steady stream of appends does not wait for the window
   * between batches. Acks alone wait for the ack window.
   */
  finished(batch: Batch): void {
    this.out.push({ t: 'resolve', appends: batch.appends, ackIds: batch.ackIds })
    if (this.urgent()) this.out.push({ t: 'write' })
    else this.arm('linger', 0)
  }

  /** Work that goes in the next batch at once; acks alone wait for the ack window. */
  private urgent(): boolean {
    return this.pendingAppends.length > 0 || this.forceBudget || this.pendingAcks.size >= this.o.maxBatch
  }

  private next(): void {
    if (this.urgent()) this.out.push({ t: 'write' })
    else {
      this.idle()
      if (this.pendingAcks.size > 0) this.arm('acks', ACK_WINDOW_MS)
    }
  }

  /**
   * The batch's write failed: nothing of it is on disk. Its appends and acks are rejected; the acks are
   * kept for the next batch. A broken disk must not turn into a busy loop: new appends wait for the
   * window, acks alone for ACK_RETRY_MS.
   */
  failed(batch: Batch, err: string): void {
    this.lastError = err
    this.writingBytes = 0
    for (const s of batch.acks) this.pendingAcks.add(s)
    const ids = [...batch.appends.map((a) => a.id), ...batch.ackIds]
    if (ids.length > 0) this.out.push({ t: 'reject', ids })
    this.idle()
    if (this.pendingAppends.length > 0) this.request(false)
    else if (this.hasWork() && !this.closed && !this.timers.has('retry')) this.arm('retry', ACK_RETRY_MS)
  }

  private idle(): void {
    this.writing = false
    this.out.push({ t: 'idle' })
  }

  /** The oldest live entry as found on disk, or none. */
  head(found: { seq: bigint; at: number } | null): void {
    this.headStale = false
    if (found) {
      this.headSeq = found.seq
      this.oldestAt = found.at
    } else {
      this.oldestAt = null
      // Skip the tombstones just written; nothing below the oldest unwritten append can appear.
      this.headSeq = this.pendingAppends[0]?.items[0]?.seq ?? this.nextSeq
    }
  }

  /** Where the next read starts: after the last entry read (no re-seek over tombstones), or at the head. */
  readFrom(): { after: bigint } | { from: bigint } {
    return this.reads.from(this.headSeq)
  }

  /** An entry was read (reads go in sequence order). */
  read(seq: bigint, size: number, at: number): void {
    this.reads.read(seq, size, at)
  }

  /** The next read starts again at the oldest entry (a consumer lost its in-flight window). */
  rewind(): void {
    this.reads.rewind()
  }

  stats(): QueueStats {
    return { ...this.c, oldestEnqueuedAt: this.oldestAt, lastError: this.lastError }
  }
}

import type { Message, QueueEntry, QueueStats } from '../core/index.ts'
import { FieldgateError } from '../core/index.ts'
import { encodeEntry } from './codec.ts'
import { chargedSize, type QueueOptions, type SequencedQueue } from './types.ts'

interface Item extends QueueEntry {
  size: number
}

/**
 * The same queue semantics without a disk, for tests: the queue conformance suite runs against it and
 * LevelQueue, and unit tests of the forwarder use it. (The gateway itself always queues in LevelDB.)
 * Sizes are charged as the LevelDB queue charges them, so budgets behave the same.
 */
export class MemoryQueue implements SequencedQueue {
  private items: Item[] = []
  private nextSeq = 0n
  private readPos: bigint | null = null
  private bytes = 0
  private appended = 0
  private acked = 0
  private dropped = 0
  private rejected = 0
  private closed = false

  constructor(
    readonly name: string,
    private readonly opts: Pick<QueueOptions, 'maxBytes' | 'maxAge' | 'policy' | 'clock'>,
  ) {}

  append(ms: Message[]): Promise<void> {
    return this.appendSeq(ms).then(() => undefined)
  }

  async appendSeq(ms: Message[]): Promise<bigint[]> {
    if (this.closed) throw new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`)
    const now = this.opts.clock.now()
    const fresh: Item[] = ms.map((m) => ({ seq: 0n, message: copy(m), enqueuedAt: now, size: chargedSize(encodeEntry(m, now).length) }))
    const total = fresh.reduce((s, i) => s + i.size, 0)
    const full = this.fullReason(total, now)
    if (full) {
      this.rejected += ms.length
      throw new FieldgateError('QUEUE_FULL', `queue ${this.name} is full: ${full}`, { details: { queue: this.name, policy: this.opts.policy } })
    }
    for (const i of fresh) {
      i.seq = this.nextSeq++
      this.items.push(i)
      this.bytes += i.size
    }
    this.appended += fresh.length
    if (this.opts.policy === 'drop-oldest') this.evict(now)
    return fresh.map((i) => i.seq)
  }

  private fullReason(total: number, now: number): string | null {
    if (total > this.opts.maxBytes) return `${total} bytes exceed the whole budget storage.max_bytes=${this.opts.maxBytes}`
    if (this.opts.policy !== 'reject-new') return null
    if (this.bytes + total > this.opts.maxBytes) return `${this.bytes} of storage.max_bytes=${this.opts.maxBytes} bytes used (policy reject-new)`
    const oldest = this.items[0]
    if (this.opts.maxAge > 0 && oldest && now - oldest.enqueuedAt > this.opts.maxAge) return `oldest entry is over storage.max_age=${this.opts.maxAge} ms (policy reject-new)`
    return null
  }

  private evict(now: number): void {
    const ageLimit = this.opts.maxAge > 0 ? now - this.opts.maxAge : -Infinity
    while (this.items.length > 0) {
      const first = this.items[0] as Item
      if (this.bytes <= this.opts.maxBytes && first.enqueuedAt >= ageLimit) break
      this.items.shift()
      this.bytes -= first.size
      this.dropped++
    }
  }

  async peek(n: number): Promise<QueueEntry[]> {
    if (this.closed) throw new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`)
    const start = this.readPos === null ? 0 : this.indexAfter(this.readPos)
    const out = this.items.slice(start, start + n).map(({ seq, message, enqueuedAt }) => ({ seq, message, enqueuedAt }))
    const last = out.at(-1)
    if (last) this.readPos = last.seq
    return out
  }

  rewind(): void {
    this.readPos = null
  }

  /** Index of the first item with seq > s (items are sorted by seq). */
  private indexAfter(s: bigint): number {
    let lo = 0
    let hi = this.items.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((this.items[mid] as Item).seq <= s) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  async ack(seqs: bigint[]): Promise<void> {
    if (this.closed) throw new FieldgateError('QUEUE_CLOSED', `queue ${this.name} is closed`)
    for (const s of seqs) {
      const i = this.indexAfter(s) - 1
      const item = this.items[i]
      if (item && item.seq === s) {
        this.items.splice(i, 1)
        this.bytes -= item.size
        this.acked++
      }
    }
  }

  async flush(): Promise<void> {}

  stats(): QueueStats {
    return {
      depth: this.items.length,
      bytes: this.bytes,
      oldestEnqueuedAt: this.items[0]?.enqueuedAt ?? null,
      appended: this.appended,
      acked: this.acked,
      dropped: this.dropped,
      rejected: this.rejected,
      lastError: null,
    }
  }

  async close(): Promise<void> {
    this.closed = true
  }
}

function copy(m: Message): Message {
  return { ...m, payload: Buffer.from(m.payload) }
}

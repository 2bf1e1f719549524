import type { Duplex } from 'node:stream'

/** Flush early once this much is pending, so one batch stays a modest single buffer. */
const BATCH_BYTES = 64 * 1024
/** Buffers up to this size are copied into the batch; larger ones are queued as they are. */
const COPY_MAX = 1024
/** Batch area sizes: Buffer.allocUnsafe takes sizes below 4 KB from its shared pool. */
const AREA_MIN = 64
const AREA_MAX = 4000

/** A writer's batch as the encoders fill it: room for `n` bytes at `area[reserve(n)]`, then `commit(n)`. */
export interface BatchTarget {
  reserve(n: number): number
  readonly area: Buffer
  commit(n: number): void
}

/** Writers with bytes pending, flushed together by one tick. */
const dirty: Writer[] = []
let scheduled = false

function flushAll(): void {
  scheduled = false
  // a flush can make another writer dirty (an error closing a connection sends its will): it is appended and flushed in this pass
  for (let i = 0; i < dirty.length; i++) (dirty[i] as Writer).flush()
  dirty.length = 0
}

/**
 * The only code that writes to a client's socket. Packets written while one I/O callback runs (a
 * socket read and everything it routes) go into one batch per socket, handed over as one buffer from
 * one tick queued behind the callback: thousands of tiny writes queued in the stream make libuv's
 * writev crawl (measured: output stalled under a QoS 0 flood). Small packets are encoded straight into
 * the batch (`reserve`/`area`/`commit`) or copied there, so a batch is one buffer without a per-packet
 * Buffer object or a concat. setImmediate (once per event-loop turn) wrote no less often under fan-in
 * here and cost a callback into JS per turn at low rates.
 */
export class Writer implements BatchTarget {
  /** Finished pieces of the batch, in order (before `area`'s open part). */
  private parts: Buffer[] | null = null
  /** The batch's buffer being filled: bytes [start, used) are pending. */
  private buf: Buffer | null = null
  private start = 0
  private used = 0
  private pendingBytes = 0
  /** Bytes of the last flush: the next batch's area is sized by it. */
  private lastBatch = 0
  private queued = false
  private ended = false

  constructor(
    private readonly stream: Duplex,
    private readonly counter: { bytesOut: number },
  ) {}

  /** Bytes accepted but not yet handed to the kernel (slow-consumer detection). */
  get backlog(): number {
    return this.stream.writableLength + this.pendingBytes
  }

  get writable(): boolean {
    return !this.ended && !this.stream.destroyed
  }

  /** Room for `n` bytes at `area[offset]`, to be filled and then committed; returns the offset. */
  reserve(n: number): number {
    const b = this.buf
    if (b !== null && this.used + n <= b.length) return this.used
    this.seal()
    // twice the last batch, so a turn with a few more packets still fits in one area (no concat)
    const hint = Math.min(AREA_MAX, Math.max(AREA_MIN, 2 * this.lastBatch))
    this.buf = Buffer.allocUnsafe(n > hint ? n : hint)
    this.start = this.used = 0
    return 0
  }

  /** The buffer `reserve` made room in. */
  get area(): Buffer {
    return this.buf as Buffer
  }

  /** The `n` bytes reserved are filled: they go out with the batch. */
  commit(n: number): void {
    this.used += n
    this.added(n)
  }

  write(buf: Buffer): void {
    if (!this.writable) return
    const n = buf.length
    if (n > COPY_MAX) {
      this.seal()
      ;(this.parts ??= []).push(buf)
      this.added(n)
      return
    }
    const at = this.reserve(n)
    buf.copy(this.buf as Buffer, at)
    this.commit(n)
  }

  /** Flush, half-close, and destroy if the peer has not closed within `graceMs`. */
  end(graceMs = 1000): void {
    if (this.ended) return
    this.flush()
    this.ended = true
    if (this.stream.destroyed) return
    this.stream.end()
    const t = setTimeout(() => this.stream.destroy(), graceMs)
    t.unref()
    this.stream.once('close', () => clearTimeout(t))
  }

  destroy(): void {
    this.ended = true
    this.parts = this.buf = null
    this.pendingBytes = 0
    this.stream.destroy()
  }

  flush(): void {
    this.queued = false
    this.seal()
    this.buf = null
    const list = this.parts
    if (list === null) return
    const out = list.length === 1 ? (list[0] as Buffer) : Buffer.concat(list, this.pendingBytes)
    this.lastBatch = this.pendingBytes
    this.parts = null
    this.pendingBytes = 0
    if (!this.stream.destroyed && this.stream.writable) this.stream.write(out)
  }

  private added(n: number): void {
    this.pendingBytes += n
    this.counter.bytesOut += n
    if (this.pendingBytes >= BATCH_BYTES) this.flush()
    else if (!this.queued) {
      this.queued = true
      dirty.push(this)
      if (!scheduled) {
        scheduled = true
        process.nextTick(flushAll)
      }
    }
  }

  /** Moves the area's pending bytes to `parts` (the rest of the area stays usable). */
  private seal(): void {
    const b = this.buf
    if (b === null || this.used === this.start) return
    ;(this.parts ??= []).push(this.start === 0 && this.used === b.length ? b : b.subarray(this.start, this.used))
    this.start = this.used
  }
}

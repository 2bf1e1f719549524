import type { Duplex } from 'node:stream'

/** Flush early once this much is pending, so one tick's batch stays a modest single buffer. */
const BATCH_BYTES = 64 * 1024

/**
 * The only code that writes to a client's socket. Packets written in one tick are concatenated and
 * handed to the socket as one buffer on the next tick: thousands of tiny writes queued in the stream
 * make libuv's writev crawl (measured: output stalled under a QoS 0 flood), one buffer per tick does not.
 */
export class Writer {
  private pending: Buffer[] | null = null
  private pendingBytes = 0
  private scheduled = false
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

  write(buf: Buffer): void {
    if (!this.writable) return
    ;(this.pending ??= []).push(buf)
    this.pendingBytes += buf.length
    this.counter.bytesOut += buf.length
    if (this.pendingBytes >= BATCH_BYTES) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      process.nextTick(flushWriter, this)
    }
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
    this.pending = null
    this.pendingBytes = 0
    this.stream.destroy()
  }

  flush(): void {
    this.scheduled = false
    const list = this.pending
    if (list === null) return
    const out = list.length === 1 ? (list[0] as Buffer) : Buffer.concat(list, this.pendingBytes)
    this.pending = null
    this.pendingBytes = 0
    if (!this.stream.destroyed && this.stream.writable) this.stream.write(out)
  }
}

function flushWriter(w: Writer): void {
  w.flush()
}

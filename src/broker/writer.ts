import type { Duplex } from 'node:stream'

/**
 * The only code that writes to a client's socket. Writes made in one tick are corked together and
 * flushed with one writev on the next tick, so fan-out and ack bursts cost one syscall.
 */
export class Writer {
  private corked = false
  private ended = false

  constructor(
    private readonly stream: Duplex,
    private readonly onBytes: (n: number) => void,
  ) {}

  /** Bytes accepted but not yet handed to the kernel (slow-consumer detection). */
  get backlog(): number {
    return this.stream.writableLength
  }

  get writable(): boolean {
    return !this.ended && !this.stream.destroyed
  }

  write(buf: Buffer): void {
    if (!this.writable) return
    if (!this.corked) {
      this.corked = true
      this.stream.cork()
      process.nextTick(uncork, this)
    }
    this.stream.write(buf)
    this.onBytes(buf.length)
  }

  /** Flush, half-close, and destroy if the peer has not closed within `graceMs`. */
  end(graceMs = 1000): void {
    if (this.ended) return
    this.ended = true
    if (this.stream.destroyed) return
    this.flush()
    this.stream.end()
    const t = setTimeout(() => this.stream.destroy(), graceMs)
    t.unref()
    this.stream.once('close', () => clearTimeout(t))
  }

  destroy(): void {
    this.ended = true
    this.stream.destroy()
  }

  flush(): void {
    if (!this.corked) return
    this.corked = false
    this.stream.uncork()
  }
}

function uncork(w: Writer): void {
  w.flush()
}

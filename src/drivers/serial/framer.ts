import type { Clock, TimerHandle } from '../../core/index.ts'

/** Splits a byte stream on a delimiter; a run longer than maxFrame without one is dropped and counted. */
export class DelimiterFramer {
  private buf: Buffer = Buffer.alloc(0)
  overflows = 0

  constructor(
    private readonly delimiter: Buffer,
    private readonly maxFrame: number,
  ) {
    if (delimiter.length === 0) throw new TypeError('delimiter: must not be empty')
    if (!(maxFrame > 0)) throw new TypeError('max_frame: must be positive')
  }

  push(chunk: Buffer): Buffer[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    const frames: Buffer[] = []
    let at = this.buf.indexOf(this.delimiter)
    while (at >= 0) {
      const frame = this.buf.subarray(0, at)
      if (frame.length > this.maxFrame) this.overflows++
      else frames.push(frame)
      this.buf = this.buf.subarray(at + this.delimiter.length)
      at = this.buf.indexOf(this.delimiter)
    }
    if (this.buf.length > this.maxFrame) {
      this.overflows++
      this.buf = Buffer.alloc(0)
    }
    return frames
  }

  reset(): void {
    this.buf = Buffer.alloc(0)
  }
}

/** Ends a frame when no byte arrived for `idleMs` (devices without a delimiter). */
export class IdleFramer {
  private parts: Buffer[] = []
  private size = 0
  private timer: TimerHandle | null = null
  overflows = 0

  constructor(
    private readonly idleMs: number,
    private readonly maxFrame: number,
    private readonly clock: Clock,
    private readonly onFrame: (frame: Buffer) => void,
  ) {
    if (!(idleMs > 0)) throw new TypeError('frame_timeout: must be positive')
  }

  push(chunk: Buffer): void {
    this.parts.push(chunk)
    this.size += chunk.length
    if (this.size > this.maxFrame) {
      this.overflows++
      this.parts = []
      this.size = 0
    }
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = this.clock.setTimeout(() => this.flush(), this.idleMs)
  }

  flush(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = null
    if (this.size === 0) return
    const frame = Buffer.concat(this.parts)
    this.parts = []
    this.size = 0
    this.onFrame(frame)
  }

  reset(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = null
    this.parts = []
    this.size = 0
  }
}

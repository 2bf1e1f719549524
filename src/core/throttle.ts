import type { Clock, TimerHandle } from './clock.ts'

/**
 * Runs `fn` at once on the first trigger, then at most once per `gapMs`: triggers within the gap fold
 * into one run at its end. Answering messages from the network with a publish through this bounds the
 * answers however fast the messages come.
 */
export class Throttle {
  private last = Number.NEGATIVE_INFINITY
  private timer: TimerHandle | null = null
  runs = 0

  constructor(
    private readonly clock: Clock,
    private readonly gapMs: number,
    private readonly fn: () => void,
  ) {}

  trigger(): void {
    if (this.timer) return
    const wait = this.last + this.gapMs - this.clock.now()
    if (wait <= 0) return this.run()
    this.timer = this.clock.setTimeout(() => {
      this.timer = null
      this.run()
    }, wait)
    this.timer.unref?.()
  }

  /** Drops a run waiting for the end of the gap. */
  cancel(): void {
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = null
  }

  private run(): void {
    this.last = this.clock.now()
    this.runs++
    this.fn()
  }
}

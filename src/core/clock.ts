/** Injectable time source so timers and timeouts are testable without sleeping. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): TimerHandle
  clearTimeout(h: TimerHandle): void
  setInterval(fn: () => void, ms: number): TimerHandle
  clearInterval(h: TimerHandle): void
}

export interface TimerHandle {
  unref?(): unknown
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
}

interface FakeTimer {
  id: number
  at: number
  fn: () => void
  every: number | null
}

/** A manual clock for unit tests of pure timing logic. */
export class FakeClock implements Clock {
  private time: number
  private nextId = 1
  private timers = new Map<number, FakeTimer>()

  constructor(start = 0) {
    this.time = start
  }

  now(): number {
    return this.time
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, null)
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms))
  }

  clearTimeout(h: TimerHandle): void {
    this.timers.delete((h as { id: number }).id)
  }

  clearInterval(h: TimerHandle): void {
    this.clearTimeout(h)
  }

  /** Advance time, firing due timers in order. */
  advance(ms: number): void {
    const end = this.time + ms
    for (let guard = 0; guard < 1_000_000; guard++) {
      let next: FakeTimer | undefined
      for (const timer of this.timers.values()) if (timer.at <= end && (!next || timer.at < next.at)) next = timer
      if (!next) break
      this.time = next.at
      if (next.every === null) this.timers.delete(next.id)
      else next.at += next.every
      next.fn()
    }
    this.time = end
  }

  pending(): number {
    return this.timers.size
  }

  private add(fn: () => void, ms: number, every: number | null): TimerHandle {
    const id = this.nextId++
    this.timers.set(id, { id, at: this.time + Math.max(0, ms), fn, every })
    return { id, unref: () => undefined } as TimerHandle & { id: number }
  }
}

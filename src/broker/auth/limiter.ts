import { normalizeAddress } from './guard.ts'

/**
 * Bounds the password hashes running at once. scrypt runs on libuv's thread pool (4 threads by
 * default), the same pool that runs LevelDB's writes and fsyncs: unbounded, a login storm queues the
 * store's work behind hundreds of 16 MiB hashes and durable acknowledgements wait seconds. With at most
 * `maxRunning` hashes (below the pool's size) the store always finds a free thread.
 *
 * One address runs at most `maxRunningPerAddress` hashes and keeps at most `maxWaitingPerAddress`
 * logins waiting; beyond that a login is refused at once (server busy, try again). Waiting logins are
 * served round robin over addresses (the one served longest ago first), so a host that floods waits its
 * turn behind every other host.
 */
export interface HashLimiterOptions {
  maxRunning: number
  maxRunningPerAddress: number
  maxWaitingPerAddress: number
}

/** Call once when the hash has answered. */
export type Release = () => void
/** A slot (release it when done), 'busy' (refuse: the address has too many waiting) or 'gone' (the caller no longer wants it). */
export type Admission = Release | 'busy' | 'gone'

interface Waiter {
  resolve: (a: Admission) => void
  wanted: () => boolean
}

interface Slot {
  running: number
  waiting: Waiter[]
  /** When this address last started a hash (a counter); the one served longest ago goes next. */
  lastTurn: number
}

export class HashLimiter {
  /** Addresses with hashes running or logins waiting. */
  private readonly slots = new Map<string, Slot>()
  private turn = 0
  private runningNow = 0
  private waitingNow = 0
  /** Logins refused because their address had too many waiting. */
  refused = 0
  /** Waiting logins whose connection closed before their turn (no hash computed). */
  abandoned = 0
  /** Most hashes that ever ran at once, and most logins that ever waited at once. */
  peakRunning = 0
  peakWaiting = 0

  constructor(private readonly opts: HashLimiterOptions) {
    for (const [k, v] of Object.entries(opts)) if (!Number.isInteger(v) || v < (k === 'maxWaitingPerAddress' ? 0 : 1)) throw new TypeError(`${k} must be a whole number ≥ 1 (≥ 0 for waiting), got ${v}`)
  }

  get running(): number {
    return this.runningNow
  }

  get waiting(): number {
    return this.waitingNow
  }

  /** `wanted` is asked when the turn comes: a login whose connection closed meanwhile gives its turn away. */
  acquire(address: string, wanted: () => boolean = () => true): Promise<Admission> {
    const key = normalizeAddress(address)
    let slot = this.slots.get(key)
    if (!slot) this.slots.set(key, (slot = { running: 0, waiting: [], lastTurn: -1 }))
    if (slot.waiting.length === 0 && slot.running < this.opts.maxRunningPerAddress && this.runningNow < this.opts.maxRunning) {
      return Promise.resolve(this.start(key, slot))
    }
    if (slot.waiting.length >= this.opts.maxWaitingPerAddress) {
      this.refused++
      this.forgetIfIdle(key, slot)
      return Promise.resolve('busy')
    }
    const s = slot
    return new Promise((resolve) => {
      s.waiting.push({ resolve, wanted })
      this.waitingNow++
      this.peakWaiting = Math.max(this.peakWaiting, this.waitingNow)
    })
  }

  private start(key: string, slot: Slot): Release {
    slot.running++
    slot.lastTurn = this.turn++
    this.runningNow++
    this.peakRunning = Math.max(this.peakRunning, this.runningNow)
    let released = false
    return () => {
      if (released) return
      released = true
      slot.running--
      this.runningNow--
      this.forgetIfIdle(key, slot)
      this.dispatch()
    }
  }

  /** Starts waiting logins while there is room, each time from the address that started a hash longest ago. */
  private dispatch(): void {
    // Each pass takes one waiter off a queue, so this ends after at most `waitingNow` passes.
    while (this.runningNow < this.opts.maxRunning && this.waitingNow > 0) {
      let next: [string, Slot] | undefined
      for (const entry of this.slots) {
        const slot = entry[1]
        if (slot.waiting.length > 0 && slot.running < this.opts.maxRunningPerAddress && (next === undefined || slot.lastTurn < next[1].lastTurn)) next = entry
      }
      if (next === undefined) return
      const [key, slot] = next
      const w = slot.waiting.shift() as Waiter
      this.waitingNow--
      if (w.wanted()) w.resolve(this.start(key, slot))
      else {
        this.abandoned++
        slot.lastTurn = this.turn++
        this.forgetIfIdle(key, slot)
        w.resolve('gone')
      }
    }
  }

  private forgetIfIdle(key: string, slot: Slot): void {
    if (slot.running === 0 && slot.waiting.length === 0) this.slots.delete(key)
  }
}

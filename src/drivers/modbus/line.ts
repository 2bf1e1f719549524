import { Backoff, FieldgateError, errorMessage, type Clock, type Logger } from '../../core/index.ts'
import { isLinkError } from './errors.ts'
import type { LinkCounters, ModbusTransport, TransportFactory } from './transport.ts'

export interface TransactionRecord {
  unit: number
  ok: boolean
  error?: string
  startedAt: number
  endedAt: number
}

interface Job {
  unit: number
  run: (t: ModbusTransport) => Promise<unknown>
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
}

/**
 * One Modbus link and its FIFO of transactions. RS-485 (and an RTU-over-TCP gateway behind it) carries
 * one transaction at a time, so every unit id on the line queues here; retries re-enter at the back so a
 * silent slave costs the others at most one timeout in a row.
 */
export class ModbusLine {
  private queue: Job[] = []
  private busy = false
  private transport: ModbusTransport | null = null
  private reopenAt = 0
  private readonly backoff: Backoff
  private listeners: Array<(t: TransactionRecord) => void> = []
  private closed = false
  private lastEnd = Number.NEGATIVE_INFINITY
  private failing = false
  private failbackAt = 0
  private lastCounters: LinkCounters | null = null
  private lastEndpoint: string | null = null
  private wakeIdle: (() => void) | null = null
  opens = 0
  /** The last reason the link failed or was reopened, kept after it recovers, and when that was. */
  lastLinkError: string | null = null
  lastLinkErrorAt: number | null = null
  /** Pause between the end of one transaction and the start of the next (slow slaves, RS-485 converters). */
  requestDelay = 0
  /** On a backup host: how often to try the primary again. */
  failbackInterval = 60_000

  constructor(
    readonly name: string,
    private readonly factory: TransportFactory,
    private readonly clock: Clock,
    private readonly logger: Logger,
    backoff: { min: number; max: number } = { min: 500, max: 30_000 },
  ) {
    this.backoff = new Backoff(backoff.min, backoff.max)
  }

  /** Observes every transaction (used by status, tests and the benchmark). */
  onTransaction(cb: (t: TransactionRecord) => void): () => void {
    this.listeners.push(cb)
    return () => {
      this.listeners = this.listeners.filter((l) => l !== cb)
    }
  }

  get pending(): number {
    return this.queue.length
  }

  get connected(): boolean {
    return this.transport?.isOpen === true
  }

  /** Link counters (requests, answers, discarded frames...) across reconnects, if the transport keeps them. */
  counters(): LinkCounters | null {
    return this.transport?.counters?.() ?? this.lastCounters
  }

  /** Where the line is (or last was) connected, and whether that is a backup host. */
  get endpoint(): string | null {
    return this.transport?.endpoint ?? this.lastEndpoint
  }

  get onBackup(): boolean {
    return this.transport?.onBackup === true
  }

  run<T>(unit: number, fn: (t: ModbusTransport) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new FieldgateError('DRIVER_PORT_UNAVAILABLE', `modbus line ${this.name} is closed`))
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ unit, run: fn, resolve: resolve as (v: unknown) => void, reject })
      this.wakeIdle?.()
      void this.pump()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    for (const j of this.queue.splice(0)) j.reject(new FieldgateError('DRIVER_PORT_UNAVAILABLE', `modbus line ${this.name} closed`))
    this.wakeIdle?.()
    const t = this.transport
    this.transport = null
    if (t) await t.close()
  }

  private async pump(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      for (let job = this.next(); job; job = this.next()) {
        const wait = this.notReadyFor(job.unit)
        if (wait <= 0) {
          await this.execute(job)
          continue
        }
        // Its unit still owes a late answer (RTU): the line stays free for other units' jobs meanwhile.
        this.queue.unshift(job)
        await this.idle(Math.min(...this.queue.map((j) => this.notReadyFor(j.unit))))
      }
    } finally {
      this.busy = false
    }
  }

  /** ms until a request to `unit` can go without waiting for a late answer (RTU); <= 0: now. */
  private notReadyFor(unit: number): number {
    return (this.transport?.readyAt?.(unit) ?? 0) - this.clock.now()
  }

  /** Resolves after `ms`, or earlier when a job is queued or the line closes. */
  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.clock.clearTimeout(t)
        this.wakeIdle = null
        resolve()
      }
      const t = this.clock.setTimeout(done, Math.ceil(ms))
      this.wakeIdle = done
    })
  }

  /**
   * The oldest job, except that a unit still owing a late answer (RTU, after a timeout) is passed over
   * while another unit has a job queued: its wait need not hold up the rest of the line. When only such
   * jobs are queued, pump() waits for the first to be ready or for a new job.
   */
  private next(): Job | undefined {
    const t = this.transport
    if (t?.readyAt && this.queue.length > 1) {
      const now = this.clock.now()
      const readyAt = t.readyAt.bind(t)
      const i = this.queue.findIndex((j) => readyAt(j.unit) <= now)
      if (i > 0) return this.queue.splice(i, 1)[0]
    }
    return this.queue.shift()
  }

  private async execute(job: Job): Promise<void> {
    const wait = this.lastEnd + this.requestDelay - this.clock.now()
    if (this.requestDelay > 0 && wait > 0) await new Promise<void>((r) => this.clock.setTimeout(r, wait))
    const startedAt = this.clock.now()
    // A connection that was open before this job may have died unnoticed (a peer restart): one more try
    // on a new link. A link opened for this job is not retried; timeouts and bad answers are the caller's.
    for (let attempt = 0; attempt < 2; attempt++) {
      const opensBefore = this.opens
      let transport: ModbusTransport
      try {
        transport = await this.link()
      } catch (err) {
        job.reject(err)
        return
      }
      try {
        const v = await job.run(transport)
        this.failing = false
        this.backoff.reset()
        this.lastEnd = this.clock.now()
        this.record({ unit: job.unit, ok: true, startedAt, endedAt: this.lastEnd })
        job.resolve(v)
        return
      } catch (err) {
        this.lastEnd = this.clock.now()
        this.record({ unit: job.unit, ok: false, error: errorMessage(err), startedAt, endedAt: this.lastEnd })
        const linkGone = isLinkError(err)
        if (linkGone || !transport.isOpen) await this.drop(err)
        if (linkGone && attempt === 0 && this.opens === opensBefore && !this.closed) continue
        job.reject(err)
        return
      }
    }
  }

  private async link(): Promise<ModbusTransport> {
    if (this.transport?.isOpen && this.transport.onBackup && this.clock.now() >= this.failbackAt) await this.failback()
    if (this.transport?.isOpen) return this.transport
    if (this.transport) await this.drop(this.transport.closedBecause ?? new Error('link closed'))
    const now = this.clock.now()
    if (now < this.reopenAt) {
      throw new FieldgateError('DRIVER_PORT_UNAVAILABLE', `modbus line ${this.name} unavailable (${this.lastLinkError ?? 'closed'}); retrying in ${this.reopenAt - now} ms`)
    }
    try {
      this.transport = await this.factory()
      this.opens++
      this.lastEndpoint = this.transport.endpoint ?? null
      if (this.transport.onBackup) {
        this.failbackAt = this.clock.now() + this.failbackInterval
        this.logger.warn({ line: this.name, endpoint: this.transport.endpoint }, 'modbus line open on its backup host; the primary does not answer')
      } else this.logger.info({ line: this.name, endpoint: this.transport.endpoint }, 'modbus line open')
      return this.transport
    } catch (err) {
      this.lastLinkError = errorMessage(err)
      this.lastLinkErrorAt = this.clock.now()
      this.reopenAt = this.clock.now() + this.backoff.next()
      this.logger.warn({ line: this.name, err: this.lastLinkError }, 'modbus line cannot open')
      throw new FieldgateError('DRIVER_PORT_UNAVAILABLE', `cannot open modbus line ${this.name}: ${this.lastLinkError}; check the port/host and that nothing else holds it`, { cause: err })
    }
  }

  /** On a backup host: if the primary accepts a connection again, move back to it. */
  private async failback(): Promise<void> {
    this.failbackAt = this.clock.now() + this.failbackInterval
    let primary: ModbusTransport
    try {
      primary = await this.factory({ primaryOnly: true })
    } catch {
      return
    }
    const old = this.transport
    this.transport = primary
    this.opens++
    this.lastEndpoint = primary.endpoint ?? null
    this.logger.info({ line: this.name, endpoint: primary.endpoint }, 'modbus line back on its primary host')
    if (old) await old.close().catch(() => undefined)
  }

  /**
   * Closes a failed link. The first failure after a good transaction reopens at once (one broken answer
   * costs one reconnect); further ones back off with jitter.
   */
  private async drop(err: unknown): Promise<void> {
    const t = this.transport
    this.transport = null
    this.lastCounters = t?.counters?.() ?? this.lastCounters
    this.lastLinkError = errorMessage(err)
    this.lastLinkErrorAt = this.clock.now()
    this.reopenAt = this.failing ? this.clock.now() + this.backoff.next() : this.clock.now()
    this.failing = true
    if (t) await t.close().catch(() => undefined)
  }

  private record(t: TransactionRecord): void {
    for (const l of this.listeners) l(t)
  }
}

import { Backoff, FieldgateError, errorMessage, type Clock, type Logger } from '../../core/index.ts'
import { isLinkError } from './errors.ts'
import type { ModbusTransport, TransportFactory } from './transport.ts'

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
  opens = 0
  lastLinkError: string | null = null

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

  run<T>(unit: number, fn: (t: ModbusTransport) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new FieldgateError('DRIVER_PORT_UNAVAILABLE', `modbus line ${this.name} is closed`))
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ unit, run: fn, resolve: resolve as (v: unknown) => void, reject })
      void this.pump()
    })
  }

  async close(): Promise<void> {
    this.closed = true
    for (const j of this.queue.splice(0)) j.reject(new FieldgateError('DRIVER_PORT_UNAVAILABLE', `modbus line ${this.name} closed`))
    const t = this.transport
    this.transport = null
    if (t) await t.close()
  }

  private async pump(): Promise<void> {
    if (this.busy) return
    this.busy = true
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.execute(job)
    } finally {
      this.busy = false
    }
  }

  private async execute(job: Job): Promise<void> {
    const startedAt = this.clock.now()
    let transport: ModbusTransport
    try {
      transport = await this.link()
    } catch (err) {
      job.reject(err)
      return
    }
    try {
      const v = await job.run(transport)
      this.record({ unit: job.unit, ok: true, startedAt, endedAt: this.clock.now() })
      job.resolve(v)
    } catch (err) {
      this.record({ unit: job.unit, ok: false, error: errorMessage(err), startedAt, endedAt: this.clock.now() })
      if (isLinkError(err) || !transport.isOpen) await this.drop(err)
      job.reject(err)
    }
  }

  private async link(): Promise<ModbusTransport> {
    if (this.transport?.isOpen) return this.transport
    if (this.transport) await this.drop(new Error('link closed'))
    const now = this.clock.now()
    if (now < this.reopenAt) {
      throw new FieldgateError('DRIVER_PORT_UNAVAILABLE', `modbus line ${this.name} unavailable (${this.lastLinkError ?? 'closed'}); retrying in ${this.reopenAt - now} ms`)
    }
    try {
      this.transport = await this.factory()
      this.opens++
      this.backoff.reset()
      this.lastLinkError = null
      this.logger.info({ line: this.name }, 'modbus line open')
      return this.transport
    } catch (err) {
      this.lastLinkError = errorMessage(err)
      this.reopenAt = this.clock.now() + this.backoff.next()
      this.logger.warn({ line: this.name, err: this.lastLinkError }, 'modbus line cannot open')
      throw new FieldgateError('DRIVER_PORT_UNAVAILABLE', `cannot open modbus line ${this.name}: ${this.lastLinkError}; check the port/host and that nothing else holds it`, { cause: err })
    }
  }

  private async drop(err: unknown): Promise<void> {
    const t = this.transport
    this.transport = null
    this.lastLinkError = errorMessage(err)
    this.reopenAt = this.clock.now() + this.backoff.next()
    if (t) await t.close().catch(() => undefined)
  }

  private record(t: TransactionRecord): void {
    for (const l of this.listeners) l(t)
  }
}

import { Backoff, FieldgateError, errorMessage, jitter, type Reading, type Status, type TimerHandle } from '../../core/index.ts'
import type { ModbusDeviceConfig, ModbusPointConfig } from '../../config/sections/drivers.ts'
import { DeviceStatus } from '../device-status.ts'
import type { DriverDeps, FieldDriver, StateListener, WriteOutcome } from '../types.ts'
import { decode, pointWidth, type CodecPoint } from './codec.ts'
import { isTimeout, modbusError } from './errors.ts'
import type { ModbusLine } from './line.ts'
import { isBitTable, planReads, type ReadRequest } from './planner.ts'
import { writePoint } from './write.ts'

interface Group {
  every: number
  requests: ReadRequest[]
  running: boolean
}

/** Polls one slave (unit id) through a shared ModbusLine; writes go through the same line. */
export class ModbusDriver implements FieldDriver {
  readonly id: string
  private readonly st: DeviceStatus
  private readonly points = new Map<string, ModbusPointConfig & { order: CodecPoint['order'] }>()
  private groups: Group[] = []
  private timers = new Set<TimerHandle>()
  private emit: ((r: Reading) => void) | null = null
  private stopped = true
  private readonly slaveBackoff: Backoff
  private backedOffUntil = 0
  private readonly random: () => number

  constructor(
    private readonly cfg: ModbusDeviceConfig,
    private readonly line: ModbusLine,
    private readonly deps: DriverDeps,
  ) {
    this.id = cfg.id
    this.st = new DeviceStatus(cfg.driver, deps.clock)
    this.random = deps.random ?? Math.random
    this.slaveBackoff = new Backoff(cfg.backoff_min, Math.max(cfg.backoff_min, cfg.backoff_max), this.random)
    for (const p of cfg.points) {
      const bit = p.table === 'coil' || p.table === 'discrete'
      this.points.set(p.name, { ...p, type: bit ? 'bool' : p.type, order: p.order ?? cfg.byte_order })
    }
    const byEvery = new Map<number, ModbusPointConfig[]>()
    for (const p of this.points.values()) {
      const every = p.poll_interval ?? cfg.poll_interval
      byEvery.set(every, [...(byEvery.get(every) ?? []), p])
    }
    const opts = { maxRegisters: cfg.max_registers, maxBits: cfg.max_bits, maxGap: cfg.max_gap }
    for (const [every, pts] of byEvery) {
      const plan = planReads(
        pts.map((p) => ({ key: p.name, table: p.table, address: p.address, width: pointWidth(p) })),
        opts,
      )
      this.groups.push({ every, requests: plan, running: false })
    }
    this.st.extra.unit = cfg.unit_id
    this.st.extra.line = line.name
    this.st.extra.requestsPerPoll = this.groups.reduce((n, g) => n + g.requests.length, 0)
  }

  /** The read requests each poll makes (for status, tests and the benchmark). */
  plan(): ReadRequest[] {
    return this.groups.flatMap((g) => g.requests)
  }

  onState(cb: StateListener): void {
    this.st.onState(cb)
  }

  async start(emit: (r: Reading) => void, signal: AbortSignal): Promise<void> {
    this.emit = emit
    this.stopped = false
    this.st.setState('starting')
    signal.addEventListener('abort', () => void this.stop(), { once: true })
    for (const g of this.groups) this.schedule(g, jitter(Math.min(g.every, 200), 0.5, this.random))
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) this.deps.clock.clearTimeout(t)
    this.timers.clear()
    this.st.setState('stopped')
  }

  status(): Status {
    return this.st.status()
  }

  /** One poll of every group now, ignoring any backoff (tests, diagnostics). */
  async pollOnce(emit?: (r: Reading) => void): Promise<void> {
    if (emit) this.emit = emit
    const wasStopped = this.stopped
    this.stopped = false
    this.backedOffUntil = 0
    try {
      for (const g of this.groups) await this.poll(g)
    } finally {
      this.stopped = wasStopped
    }
  }

  async write(point: string, value: unknown): Promise<void> {
    await this.writeConfirmed(point, value)
  }

  async writeConfirmed(point: string, value: unknown): Promise<WriteOutcome> {
    const p = this.points.get(point)
    const out = await writePoint(this.id, this.cfg, p, point, value, this.line)
    if (p) {
      const r: Reading = { device: this.id, point, value: out.readback, ...(p.unit ? { unit: p.unit } : {}), ts: this.deps.clock.now(), quality: 'good' }
      this.st.good(r)
      this.emit?.(r)
    }
    return out
  }

  private schedule(g: Group, delay: number): void {
    if (this.stopped) return
    const h = this.deps.clock.setTimeout(() => {
      this.timers.delete(h)
      const started = this.deps.clock.now()
      void this.poll(g)
        .catch((err: unknown) => {
          // A bug in decoding or a listener must cost one poll, not the process.
          this.st.failed(`${this.id}: poll failed: ${errorMessage(err)}`, 'DRIVER_PARSE')
          this.deps.logger.error({ device: this.id, err: errorMessage(err) }, 'poll failed')
        })
        .finally(() => {
          const spent = this.deps.clock.now() - started
          this.schedule(g, Math.max(0, jitter(g.every, this.cfg.jitter, this.random) - spent))
        })
    }, delay)
    this.timers.add(h)
  }

  private async poll(g: Group): Promise<void> {
    if (g.running || this.stopped) return
    const now = this.deps.clock.now()
    // A backed-off slave is skipped without touching the line, so it cannot delay the others.
    if (now < this.backedOffUntil) return
    g.running = true
    const started = now
    try {
      for (let i = 0; i < g.requests.length; i++) {
        const req = g.requests[i] as ReadRequest
        const outcome = await this.read(req)
        if (outcome === 'split') {
          // The device refused a coalesced read (it has holes); read these points one by one from now on.
          const singles = req.points.map((name) => {
            const p = this.points.get(name) as ModbusPointConfig
            return { table: req.table, start: p.address, count: pointWidth(p), points: [name] }
          })
          g.requests.splice(i, 1, ...singles)
          i--
          continue
        }
        if (outcome === 'dead') {
          this.failRest(g.requests.slice(i + 1))
          break
        }
      }
      this.st.pollLatencyMs = this.deps.clock.now() - started
    } finally {
      g.running = false
    }
  }

  private async read(req: ReadRequest): Promise<'ok' | 'error' | 'split' | 'dead'> {
    const what = `${req.table} ${req.start}..${req.start + req.count - 1}`
    const unit = this.cfg.unit_id
    const timeout = this.cfg.timeout
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) return 'error'
      try {
        const data = await this.line.run(unit, (t): Promise<Array<number | boolean>> =>
          isBitTable(req.table)
            ? t.readBits(unit, req.table as 'coil' | 'discrete', req.start, req.count, timeout)
            : t.readRegisters(unit, req.table as 'input' | 'holding', req.start, req.count, timeout),
        )
        const ts = this.deps.clock.now()
        this.slaveBackoff.reset()
        this.backedOffUntil = 0
        this.decodeInto(req, data, ts)
        this.st.setState('running')
        return 'ok'
      } catch (err) {
        if (this.stopped) return 'error'
        const fe = modbusError(err, { device: this.id, unit, what, timeout })
        const code = fe.details.modbusCode
        if (fe.code === 'DRIVER_MODBUS_EXCEPTION' && req.points.length > 1 && (code === 2 || code === 3)) return 'split'
        const retryable = isTimeout(err) || fe.code === 'DRIVER_PARSE'
        if (retryable && attempt < this.cfg.retries) continue
        this.failPoints(req.points, fe)
        if (fe.code === 'DRIVER_MODBUS_EXCEPTION') return 'error'
        this.backedOffUntil = this.deps.clock.now() + this.slaveBackoff.next()
        this.st.setState(fe.code === 'DRIVER_PORT_UNAVAILABLE' ? 'disconnected' : 'error', fe.message)
        return 'dead'
      }
    }
  }

  private decodeInto(req: ReadRequest, data: Array<number | boolean>, ts: number): void {
    for (const name of req.points) {
      const p = this.points.get(name)
      if (!p) continue
      const off = p.address - req.start
      let value: Reading['value']
      if (isBitTable(req.table)) value = data[off] === true
      else value = decode(data.slice(off, off + pointWidth(p)) as number[], p)
      const r: Reading = { device: this.id, point: name, value, ...(p.unit ? { unit: p.unit } : {}), ts, quality: 'good' }
      this.st.good(r)
      this.emit?.(r)
    }
  }

  private failRest(reqs: ReadRequest[]): void {
    const fe = new FieldgateError('DRIVER_TIMEOUT', `${this.id}: skipped after the slave stopped answering`)
    for (const r of reqs) this.failPoints(r.points, fe)
  }

  private failPoints(names: string[], fe: FieldgateError): void {
    const ts = this.deps.clock.now()
    const mc = fe.details.modbusCode
    const error = typeof mc === 'number' ? `modbus exception ${mc}` : fe.code === 'DRIVER_TIMEOUT' ? 'timeout' : fe.message
    for (const name of names) {
      const p = this.points.get(name)
      this.st.failed(fe.message, fe.code, name)
      this.emit?.({ device: this.id, point: name, value: 0, ...(p?.unit ? { unit: p.unit } : {}), ts, quality: 'error', error })
    }
  }
}

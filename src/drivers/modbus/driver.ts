import { Backoff, FieldgateError, errorMessage, jitter, type Reading, type Status, type TimerHandle } from '../../core/index.ts'
import { LogLimiter } from '../../core/log-limit.ts'
import { DeviceStatus } from '../device-status.ts'
import type { ModbusDeviceOptions } from '../options.ts'
import type { DriverDeps, FieldDriver, StateListener, WriteOutcome } from '../types.ts'
import { isLegacyOrder, legacyOrderNotice, resolveOrder } from './codec.ts'
import { exceptionName, isTimeout, modbusError } from './errors.ts'
import type { ModbusLine } from './line.ts'
import { describeRequest, isBitTable, type ReadRequest } from './planner.ts'
import { planGroups, splitRequest, type ModbusPoint, type PollGroup } from './poll-plan.ts'
import { decodeRequest, pointError } from './readings.ts'
import { accessRegisters, parseRegisterCommand, type RegisterCommand, type RegisterResult } from './registers.ts'
import { writePoint } from './write.ts'

/** Each distinct exception (code, table, range) is logged once per this long; repeats in between are summed up in one line at its end. */
const EXCEPTION_LOG_EVERY = 10 * 60_000

/** Polls one slave (unit id) through a shared ModbusLine; writes go through the same line. */
export class ModbusDriver implements FieldDriver {
  readonly id: string
  private readonly st: DeviceStatus
  private readonly points = new Map<string, ModbusPoint>()
  private groups: PollGroup[] = []
  private timers = new Set<TimerHandle>()
  private emit: ((r: Reading) => void) | null = null
  private stopped = true
  private readonly slaveBackoff: Backoff
  private backedOffUntil = 0
  private readonly random: () => number
  private readonly exceptionLog: LogLimiter
  private fallback: 'contiguous' | 'single' | null = null
  private lastFailure: FieldgateError | null = null

  constructor(
    private readonly cfg: ModbusDeviceOptions,
    private readonly line: ModbusLine,
    private readonly deps: DriverDeps,
  ) {
    this.id = cfg.id
    this.st = new DeviceStatus(cfg.driver, deps.clock)
    this.random = deps.random ?? Math.random
    this.exceptionLog = new LogLimiter(deps.logger, deps.clock, { intervalMs: EXCEPTION_LOG_EVERY })
    this.slaveBackoff = new Backoff(cfg.backoffMin, Math.max(cfg.backoffMin, cfg.backoffMax), this.random)
    if (isLegacyOrder(cfg.byteOrder)) deps.logger.warn({ key: 'byte_order', value: cfg.byteOrder }, legacyOrderNotice(cfg.byteOrder))
    for (const p of cfg.points) {
      const bit = p.table === 'coil' || p.table === 'discrete'
      const type = bit ? 'bool' : p.type
      this.points.set(p.name, { ...p, type, ...resolveOrder({ ...p, type }, cfg) })
    }
    this.groups = planGroups(this.points.values(), cfg)
    this.st.extra.unit = cfg.unitId
    this.st.extra.line = line.name
    this.reportPlan()
  }

  /** The plan as it is now (it changes when the slave refuses reads over holes). */
  private reportPlan(): void {
    const reqs = this.plan()
    this.st.extra.requestsPerPoll = reqs.length
    this.st.extra.plan = reqs.map(describeRequest)
    this.st.extra.planFallback = this.fallback
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
    this.exceptionLog.flush()
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

  /** Commissioning access to any register; only reachable when the device has `registerCommands` on. */
  async registerCommand(op: 'read' | 'write', body: unknown): Promise<RegisterResult> {
    if (!this.cfg.registerCommands) throw new FieldgateError('DRIVER_WRITE_REJECTED', `${this.id}: register commands are off (set register_commands = true on the device)`)
    const cmd: RegisterCommand = parseRegisterCommand(this.id, op, body, this.cfg)
    const out = await accessRegisters(this.id, this.cfg, cmd, this.line)
    this.deps.logger.info({ op, table: cmd.table, start: cmd.address, count: cmd.count, ...(op === 'write' ? { values: cmd.values ?? cmd.value } : {}) }, `register command: ${op} ${cmd.table} ${cmd.address}`)
    return out
  }

  private schedule(g: PollGroup, delay: number): void {
    if (this.stopped) return
    const h = this.deps.clock.setTimeout(() => {
      this.timers.delete(h)
      const started = this.deps.clock.now()
      void this.poll(g)
        .catch((err: unknown) => {
          // A bug in decoding or a listener must cost one poll, not the process.
          this.st.failed(`${this.id}: poll failed: ${errorMessage(err)}`, 'DRIVER_PARSE')
          this.deps.logger.error({ err: errorMessage(err) }, 'poll failed')
        })
        .finally(() => {
          const spent = this.deps.clock.now() - started
          this.schedule(g, Math.max(0, jitter(g.every, this.cfg.jitter, this.random) - spent))
        })
    }, delay)
    this.timers.add(h)
  }

  private async poll(g: PollGroup): Promise<void> {
    if (g.running || this.stopped) return
    const now = this.deps.clock.now()
    // A backed-off slave is skipped without touching the line, so it cannot delay the others.
    if (now < this.backedOffUntil) return
    g.running = true
    const started = now
    let anyOk = false
    let dead = false
    try {
      for (let i = 0; i < g.requests.length; i++) {
        const req = g.requests[i] as ReadRequest
        const outcome = await this.read(req)
        if (outcome === 'split') {
          g.requests.splice(i, 1, ...this.split(req))
          this.reportPlan()
          i--
          continue
        }
        if (outcome === 'ok') anyOk = true
        if (outcome === 'dead') {
          dead = true
          this.failRest(g.requests.slice(i + 1))
          break
        }
      }
      this.st.pollLatencyMs = this.deps.clock.now() - started
    } finally {
      g.running = false
    }
    if (this.stopped) return
    g.anyOk = dead ? false : anyOk
    if (dead) return
    if (anyOk) this.st.setState('running')
    else if (this.groups.every((x) => x.anyOk !== true) && this.lastFailure) {
      // Every read of every group ends in an exception: the device answers but gives nothing usable.
      this.st.setState('error', `every read fails: ${this.lastFailure.message}`)
    }
  }

  /** A slave refused a coalesced read (exception 2/3): the requests to make instead, logged once per fallback level. */
  private split(req: ReadRequest): ReadRequest[] {
    const { next, level } = splitRequest(req, this.points, this.cfg)
    if (this.fallback !== level && this.fallback !== 'single') {
      this.fallback = level
      const before = this.plan().length
      this.deps.logger.warn(
        { table: req.table, start: req.start, end: req.start + req.count - 1, requestsPerPollBefore: before, requestsPerPollAfter: before - 1 + next.length },
        level === 'contiguous'
          ? 'slave refuses reads over unmapped registers; reading contiguous runs (no gaps) from now on'
          : 'slave refuses a multi-point read without gaps; reading those points one at a time from now on',
      )
    }
    return next
  }

  private async read(req: ReadRequest): Promise<'ok' | 'error' | 'split' | 'dead'> {
    const what = describeRequest(req)
    const unit = this.cfg.unitId
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
        return 'ok'
      } catch (err) {
        if (this.stopped) return 'error'
        const fe = modbusError(err, { device: this.id, unit, what, timeout })
        const code = fe.details.modbusCode
        if (fe.code === 'DRIVER_MODBUS_EXCEPTION' && req.points.length > 1 && (code === 2 || code === 3)) return 'split'
        const retryable = isTimeout(err) || fe.code === 'DRIVER_PARSE'
        if (retryable && attempt < this.cfg.retries) continue
        this.failPoints(req.points, fe)
        this.lastFailure = fe
        if (fe.code === 'DRIVER_MODBUS_EXCEPTION') {
          this.logException(req, code as number)
          return 'error'
        }
        this.backedOffUntil = this.deps.clock.now() + this.slaveBackoff.next()
        this.st.setState(fe.code === 'DRIVER_PORT_UNAVAILABLE' ? 'disconnected' : 'error', fe.message)
        return 'dead'
      }
    }
  }

  private logException(req: ReadRequest, code: number): void {
    const end = req.start + req.count - 1
    this.exceptionLog.log(
      'warn',
      `${code}/${req.table}/${req.start}/${req.count}`,
      { unit: this.cfg.unitId, exception: code, name: exceptionName(code), table: req.table, start: req.start, end, points: req.points },
      `modbus exception ${code} (${exceptionName(code)}) reading ${req.table} ${req.start}..${end}`,
    )
  }

  private decodeInto(req: ReadRequest, data: Array<number | boolean>, ts: number): void {
    for (const r of decodeRequest(this.id, req, data, this.points, ts)) {
      if (r.quality === 'good') this.st.good(r)
      else this.st.failed(`${this.id}/${r.point}: ${r.error ?? 'invalid value'} in ${req.table} ${this.points.get(r.point)?.address ?? '?'}`, 'DRIVER_INVALID_VALUE', r.point)
      this.emit?.(r)
    }
  }

  private failRest(reqs: ReadRequest[]): void {
    const cause = this.lastFailure
    const why = cause?.code === 'DRIVER_PORT_UNAVAILABLE' ? 'the link is unavailable' : 'the slave stopped answering'
    const fe = new FieldgateError(cause?.code ?? 'DRIVER_TIMEOUT', `${this.id}: skipped because ${why}${cause ? `: ${cause.message}` : ''}`, { cause })
    for (const r of reqs) this.failPoints(r.points, fe)
  }

  private failPoints(names: string[], fe: FieldgateError): void {
    const ts = this.deps.clock.now()
    const error = pointError(fe)
    for (const name of names) {
      const p = this.points.get(name)
      this.st.failed(fe.message, fe.code, name)
      this.emit?.({ device: this.id, point: name, value: 0, ...(p?.unit ? { unit: p.unit } : {}), ts, quality: 'error', error })
    }
  }
}

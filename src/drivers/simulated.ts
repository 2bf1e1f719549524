import { FieldgateError, jitter, type Reading, type Status, type TimerHandle } from '../core/index.ts'
import { DeviceStatus } from './device-status.ts'
import type { SimulatedDeviceOptions, SimulatedPointOptions } from './options.ts'
import type { DriverDeps, FieldDriver, StateListener, WriteOutcome } from './types.ts'
import { checkWrite } from './write-check.ts'
import { seededRandom } from '../core/random.ts'

/** A closed GPS track around a point (a ~1 km loop), in degrees. */
const TRACK_CENTRE = { lat: 52.52, lon: 13.405 }

/**
 * Random-walk temperature/humidity, counters, a GPS track and writable setpoints, for demos and tests.
 * `fail()`/`recover()` let a test push the device into error and back.
 */
export class SimulatedDriver implements FieldDriver {
  readonly id: string
  private readonly st: DeviceStatus
  private values = new Map<string, number>()
  private timers: TimerHandle[] = []
  private emit: ((r: Reading) => void) | null = null
  private fault: string | null = null
  private tick = 0
  private readonly random: () => number

  constructor(
    private readonly cfg: SimulatedDeviceOptions,
    private readonly deps: DriverDeps,
  ) {
    this.id = cfg.id
    this.st = new DeviceStatus('simulated', deps.clock)
    this.random = deps.random ?? (cfg.seed !== undefined ? seededRandom(cfg.seed) : Math.random)
    for (const p of cfg.points) this.values.set(p.name, p.start)
  }

  onState(cb: StateListener): void {
    this.st.onState(cb)
  }

  async start(emit: (r: Reading) => void, signal: AbortSignal): Promise<void> {
    this.emit = emit
    this.st.setState('running')
    signal.addEventListener('abort', () => void this.stop(), { once: true })
    const groups = new Map<number, SimulatedPointOptions[]>()
    for (const p of this.cfg.points) {
      const every = p.pollInterval ?? this.cfg.pollInterval
      groups.set(every, [...(groups.get(every) ?? []), p])
    }
    for (const [every, points] of groups) {
      const loop = (): void => {
        this.sample(points)
        this.timers.push(this.deps.clock.setTimeout(loop, jitter(every, this.cfg.jitter, this.random)))
      }
      this.timers.push(this.deps.clock.setTimeout(loop, 0))
    }
  }

  /** Makes every following poll fail with `reason` until recover(). */
  fail(reason = 'simulated fault'): void {
    this.fault = reason
  }

  recover(): void {
    this.fault = null
  }

  async write(point: string, value: unknown): Promise<void> {
    await this.writeConfirmed(point, value)
  }

  async writeConfirmed(point: string, value: unknown): Promise<WriteOutcome> {
    const p = this.cfg.points.find((q) => q.name === point)
    const v = checkWrite(this.id, p, point, 'number', value) as number
    if (this.fault) throw new FieldgateError('DRIVER_PORT_UNAVAILABLE', `simulated device ${this.id} is failing: ${this.fault}`)
    this.values.set(point, v)
    const r = this.reading(point, v, p?.unit)
    this.st.good(r)
    this.emit?.(r)
    return { point, value: v, readback: v }
  }

  async stop(): Promise<void> {
    for (const t of this.timers) this.deps.clock.clearTimeout(t)
    this.timers = []
    this.st.setState('stopped')
  }

  status(): Status {
    return this.st.status()
  }

  private sample(points: SimulatedPointOptions[]): void {
    const started = this.deps.clock.now()
    this.tick++
    if (this.fault) {
      this.st.setState('error', this.fault)
      for (const p of points) {
        this.st.failed(this.fault, 'DRIVER_TIMEOUT', p.name)
        this.emit?.({ ...this.reading(p.name, this.values.get(p.name) ?? 0, p.unit), quality: 'error', error: this.fault })
      }
      return
    }
    this.st.setState('running')
    for (const p of points) {
      const v = this.next(p)
      this.values.set(p.name, v)
      const r = this.reading(p.name, Number(v.toFixed(p.kind.startsWith('gps_l') ? 6 : 2)), p.unit)
      this.st.good(r)
      this.emit?.(r)
    }
    this.st.pollLatencyMs = this.deps.clock.now() - started
  }

  private next(p: SimulatedPointOptions): number {
    const cur = this.values.get(p.name) ?? p.start
    const angle = (this.tick / 120) * 2 * Math.PI
    switch (p.kind) {
      case 'random_walk': {
        const v = cur + (this.random() * 2 - 1) * p.step
        return Math.min(p.high ?? Infinity, Math.max(p.low ?? -Infinity, v))
      }
      case 'counter':
        return cur + (p.step || 1)
      case 'gps_lat':
        return TRACK_CENTRE.lat + 0.0045 * Math.sin(angle)
      case 'gps_lon':
        return TRACK_CENTRE.lon + 0.0074 * Math.cos(angle)
      case 'gps_speed':
        return 30 + 5 * Math.sin(angle * 3)
      case 'setpoint':
        return cur
    }
  }

  private reading(point: string, value: number, unit: string | undefined): Reading {
    return { device: this.id, point, value, ...(unit ? { unit } : {}), ts: this.deps.clock.now(), quality: 'good' }
  }
}


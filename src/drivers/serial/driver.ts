import { Backoff, FieldgateError, errorMessage, type Reading, type Status, type TimerHandle } from '../../core/index.ts'
import { DeviceStatus } from '../device-status.ts'
import type { SerialDeviceOptions } from '../options.ts'
import type { DriverDeps, FieldDriver, StateListener, WriteOutcome } from '../types.ts'
import { rejectWrite } from '../write-check.ts'
import { frameParser, pointValues } from './frame-parser.ts'
import { DelimiterFramer, IdleFramer } from './framer.ts'
import type { ParseResult } from './parsers/types.ts'
import { openSerialPort, type OpenSerialPort, type SerialPortLike } from './port.ts'

/** Unescapes "\n", "\r", "\t" typed in TOML basic strings as literal backslashes. */
function unescape(s: string): string {
  return s.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\t/g, '\t')
}

/**
 * A line device on a serial port: frames by delimiter or idle gap, parses each frame, emits a reading per
 * configured point. Survives unplug/re-plug: a reader stays attached so `close` (disconnected) fires, then a
 * new port object is opened with backoff until the device is back.
 */
export class SerialDriver implements FieldDriver {
  readonly id: string
  private readonly st: DeviceStatus
  private readonly parse: (line: string) => ParseResult
  private port: SerialPortLike | null = null
  private emit: ((r: Reading) => void) | null = null
  private stopped = true
  private reopenTimer: TimerHandle | null = null
  private pollTimer: TimerHandle | null = null
  private readonly backoff: Backoff
  private readonly delimited: DelimiterFramer | null
  private readonly idle: IdleFramer | null
  opens = 0

  constructor(
    private readonly cfg: SerialDeviceOptions,
    private readonly deps: DriverDeps,
    private readonly openPort: OpenSerialPort = openSerialPort,
  ) {
    this.id = cfg.id
    this.st = new DeviceStatus('serial', deps.clock)
    this.parse = frameParser(cfg)
    this.backoff = new Backoff(cfg.reconnectMin, Math.max(cfg.reconnectMin, cfg.reconnectMax), deps.random)
    if (cfg.frameTimeout) {
      this.delimited = null
      this.idle = new IdleFramer(cfg.frameTimeout, cfg.maxFrame, deps.clock, (f) => {
        try {
          this.onFrame(f)
        } catch (err) {
          this.st.failed(`${this.id}: cannot handle input: ${errorMessage(err)}`, 'DRIVER_PARSE')
        }
      })
    } else {
      this.delimited = new DelimiterFramer(Buffer.from(unescape(cfg.delimiter)), cfg.maxFrame)
      this.idle = null
    }
    this.st.extra.port = cfg.port
  }

  onState(cb: StateListener): void {
    this.st.onState(cb)
  }

  async start(emit: (r: Reading) => void, signal: AbortSignal): Promise<void> {
    this.emit = emit
    this.stopped = false
    signal.addEventListener('abort', () => void this.stop(), { once: true })
    this.st.setState('starting')
    this.open()
    if (this.cfg.pollCommand !== undefined) {
      const cmd = unescape(this.cfg.pollCommand)
      this.pollTimer = this.deps.clock.setInterval(() => {
        if (this.port?.isOpen) this.port.write(cmd)
      }, this.cfg.pollInterval)
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    if (this.reopenTimer) this.deps.clock.clearTimeout(this.reopenTimer)
    if (this.pollTimer) this.deps.clock.clearInterval(this.pollTimer)
    this.reopenTimer = this.pollTimer = null
    this.idle?.reset()
    const p = this.port
    this.port = null
    if (p?.isOpen) await new Promise<void>((resolve) => p.close(() => resolve()))
    p?.removeAllListeners()
    this.st.setState('stopped')
  }

  status(): Status {
    this.st.extra.opens = this.opens
    return this.st.status()
  }

  async write(point: string, value: unknown): Promise<void> {
    await this.writeConfirmed(point, value)
  }

  async writeConfirmed(point: string, _value: unknown): Promise<WriteOutcome> {
    throw rejectWrite(this.id, point, 'serial line devices are read-only')
  }

  private open(): void {
    if (this.stopped) return
    const port = this.openPort({ path: this.cfg.port, baudRate: this.cfg.baud, dataBits: this.cfg.dataBits, parity: this.cfg.parity, stopBits: this.cfg.stopBits })
    this.port = port
    // Attach the reader before opening: without a data listener a vanished pty never reports `close`.
    port.on('data', (chunk: Buffer) => this.onData(chunk))
    port.on('error', (err: Error) => this.deps.logger.warn({ err: err.message }, 'serial port error'))
    port.on('close', (err) => {
      if (this.port !== port) return
      this.lost(err?.disconnected ? 'device disconnected' : `port closed${err ? `: ${err.message}` : ''}`)
    })
    port.open((err) => {
      if (this.port !== port) {
        // Stopped (or replaced) while opening: do not leave this port open behind us.
        if (!err) port.close()
        return
      }
      if (err) {
        this.lost(`cannot open ${this.cfg.port}: ${err.message}`)
        return
      }
      this.opens++
      this.backoff.reset()
      this.delimited?.reset()
      this.idle?.reset()
      this.st.setState('running')
      this.deps.logger.info({ port: this.cfg.port }, 'serial port open')
    })
  }

  private lost(reason: string): void {
    const old = this.port
    this.port = null
    old?.removeAllListeners()
    // Listeners are gone; a late 'error' from the old object must not become an uncaught exception.
    old?.on('error', () => undefined)
    if (this.stopped) return
    const fe = new FieldgateError('DRIVER_PORT_UNAVAILABLE', `${this.id}: ${reason}; reopening with backoff (plug the device back in or fix the path)`)
    this.st.failed(fe.message, fe.code)
    this.st.setState('disconnected', reason)
    const delay = this.backoff.next()
    this.reopenTimer = this.deps.clock.setTimeout(() => {
      this.reopenTimer = null
      try {
        this.open()
      } catch (err) {
        this.lost(errorMessage(err))
      }
    }, delay)
  }

  private onData(chunk: Buffer): void {
    try {
      this.frames(chunk)
    } catch (err) {
      this.st.failed(`${this.id}: cannot handle input: ${errorMessage(err)}`, 'DRIVER_PARSE')
    }
  }

  private frames(chunk: Buffer): void {
    if (this.idle) this.idle.push(chunk)
    else for (const f of (this.delimited as DelimiterFramer).push(chunk)) this.onFrame(f)
    this.st.garbage = this.garbageBase + (this.delimited?.overflows ?? 0) + (this.idle?.overflows ?? 0)
  }

  private garbageBase = 0

  private onFrame(frame: Buffer): void {
    const ts = this.deps.clock.now()
    const line = frame.toString('utf8').replace(/\r$/, '').trim()
    if (line === '') return
    const res = this.parse(line)
    if (res === null) return
    if ('error' in res) {
      this.garbageBase++
      this.st.garbage = this.garbageBase + (this.delimited?.overflows ?? 0) + (this.idle?.overflows ?? 0)
      this.st.extra.lastGarbage = res.error
      return
    }
    for (const pv of pointValues(res.fields, this.cfg.points)) {
      const unit = pv.point.unit ? { unit: pv.point.unit } : {}
      if ('error' in pv) {
        this.st.failed(`${this.id}/${pv.point.name}: ${pv.error}`, 'DRIVER_PARSE', pv.point.name)
        this.emit?.({ device: this.id, point: pv.point.name, value: 0, ...unit, ts, quality: 'error', error: pv.error })
        continue
      }
      const r: Reading = { device: this.id, point: pv.point.name, value: pv.value, ...unit, ts, quality: 'good' }
      this.st.good(r)
      this.emit?.(r)
    }
  }
}

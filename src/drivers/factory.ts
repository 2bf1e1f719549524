import type { Clock, Logger } from '../core/index.ts'
import { ModbusDriver } from './modbus/driver.ts'
import { ModbusLine } from './modbus/line.ts'
import { linkKey, modbusFactory, type LinkSpec, type TransportFactory } from './modbus/transport.ts'
import type { DeviceOptions, ModbusDeviceOptions } from './options.ts'
import { SerialDriver } from './serial/driver.ts'
import { openSerialPort, type OpenSerialPort } from './serial/port.ts'
import { SimulatedDriver } from './simulated.ts'
import type { FieldDriver } from './types.ts'

/** Hardware seams: tests and the benchmark may replace how ports and Modbus links are opened. */
export interface Hardware {
  openSerialPort: OpenSerialPort
  modbusTransport: (spec: LinkSpec) => TransportFactory
}

export const realHardware: Hardware = { openSerialPort, modbusTransport: (spec) => modbusFactory(spec, { openSerialPort }) }

export function linkSpec(cfg: ModbusDeviceOptions): LinkSpec {
  if (cfg.driver === 'modbus-rtu') {
    return { kind: 'rtu', path: cfg.port, baudRate: cfg.baud, dataBits: cfg.dataBits, parity: cfg.parity, stopBits: cfg.stopBits, ...(cfg.frameGap !== undefined ? { frameGap: cfg.frameGap } : {}) }
  }
  return {
    kind: cfg.driver === 'modbus-tcp' ? 'tcp' : 'rtu-over-tcp',
    host: cfg.host,
    port: cfg.port,
    connectTimeout: cfg.timeout,
    ...(cfg.backupHost ? { backup: { host: cfg.backupHost, port: cfg.backupPort ?? cfg.port } } : {}),
    ...(cfg.frameGap !== undefined ? { frameGap: cfg.frameGap } : {}),
  }
}

/**
 * Builds drivers and owns the Modbus lines: every RTU device on one serial port (or one RTU-over-TCP
 * gateway) shares a line; each Modbus TCP device gets its own, so TCP devices poll independently.
 */
export class DriverFactory {
  readonly lines = new Map<string, ModbusLine>()

  constructor(
    private readonly deps: { logger: Logger; clock: Clock; random?: () => number },
    private readonly hw: Hardware = realHardware,
  ) {}

  create(cfg: DeviceOptions): FieldDriver {
    const deps = { ...this.deps, logger: this.deps.logger.child({ device: cfg.id }) }
    if ((cfg.driver === 'serial' || cfg.driver === 'modbus-rtu') && /^\/dev\/tty(USB|ACM)\d+$/.test(cfg.port)) {
      deps.logger.info({ port: cfg.port }, 'ttyUSB/ttyACM numbers change between boots and re-plugs; prefer /dev/serial/by-id/... or a udev symlink')
    }
    switch (cfg.driver) {
      case 'simulated':
        return new SimulatedDriver(cfg, deps)
      case 'serial':
        return new SerialDriver(cfg, deps, this.hw.openSerialPort)
      default:
        return new ModbusDriver(cfg, this.line(cfg), deps)
    }
  }

  /** The line a device uses, or null for drivers that own their port. */
  lineKey(cfg: DeviceOptions): string | null {
    if (cfg.driver === 'simulated' || cfg.driver === 'serial') return null
    const key = linkKey(linkSpec(cfg))
    return cfg.driver === 'modbus-tcp' ? `${key}#${cfg.id}` : key
  }

  line(cfg: ModbusDeviceOptions): ModbusLine {
    const spec = linkSpec(cfg)
    const key = this.lineKey(cfg) as string
    let line = this.lines.get(key)
    if (!line) {
      line = new ModbusLine(key, this.hw.modbusTransport(spec), this.deps.clock, this.deps.logger, { min: cfg.backoffMin, max: Math.max(cfg.backoffMin, cfg.backoffMax) })
      this.lines.set(key, line)
    }
    // Devices sharing a line share its pacing: the longest pause any of them asks for applies.
    line.requestDelay = Math.max(line.requestDelay, cfg.requestDelay)
    if (cfg.driver !== 'modbus-rtu') line.failbackInterval = cfg.failbackInterval
    return line
  }

  /** Closes these lines (a reconfigured bus is opened again, with its new settings, by the next create). */
  async closeLines(keys: Iterable<string>): Promise<void> {
    const closing: Array<Promise<void>> = []
    for (const k of keys) {
      const l = this.lines.get(k)
      if (!l) continue
      this.lines.delete(k)
      closing.push(l.close())
    }
    await Promise.all(closing)
  }

  async close(): Promise<void> {
    await Promise.all([...this.lines.values()].map((l) => l.close()))
    this.lines.clear()
  }
}

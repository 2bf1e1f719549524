import type { Endian, LegacyOrder, RegisterType } from './modbus/codec.ts'
import type { Table } from './modbus/planner.ts'

/*
 * What the drivers take, per device. The gateway maps each validated `[[devices]]` entry onto these
 * (gateway/options/devices.ts): one option per config key, camelCase, defaults already applied,
 * durations in milliseconds.
 */

/** Fields every point has: reporting overrides, scaling, write limits. */
export interface PointOptions {
  name: string
  unit?: string
  /** QoS of this point's readings; the device's when unset. */
  qos?: 0 | 1 | 2
  /** ms; the device's when unset. */
  pollInterval?: number
  /** Report by exception: publish only on a change beyond this (numbers) or any change (others). */
  deadband?: number
  /** With a deadband, publish at least this often (ms) even without change. */
  maxSilence?: number
  /** Published value = raw * scale + offset (writes apply the inverse). */
  scale: number
  offset: number
  /** Commands on `<topic>/set` may write this point. */
  writable: boolean
  /** Range a written value must stay in. */
  min?: number
  max?: number
  /** Publish this point's readings retained; the device's `retain` when unset. */
  retain?: boolean
}

/** Fields every device has: where and how its readings are published. */
export interface DeviceCommonOptions {
  id: string
  /** A disabled device is known (reloads compare it) but not started. */
  enabled: boolean
  /** Topic template: `{gateway}`, `{device}`, `{point}` are substituted; commands arrive on `<topic>/set`. */
  topic: string
  /** `json` publishes {"v","u","ts","q"}; `raw` publishes the bare value. */
  payload: 'json' | 'raw'
  qos: 0 | 1 | 2
  retain: boolean
  /** ms between two polls of a point without its own interval. */
  pollInterval: number
  /** Fraction of the interval each poll is moved by at random, so devices do not poll in lockstep. */
  jitter: number
  deadband?: number
  /** ms; with a deadband, the longest a point stays unpublished. */
  maxSilence: number
  /** ms after which a value is republished with quality "stale"; 3 poll intervals when unset. */
  staleAfter?: number
}

/** A serial port's settings. */
export interface SerialLineOptions {
  /** Path of the port, preferably /dev/serial/by-id/... (ttyUSB numbers change between boots). */
  port: string
  baud: number
  dataBits: 5 | 6 | 7 | 8
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space'
  stopBits: 1 | 1.5 | 2
}

export interface SimulatedPointOptions extends PointOptions {
  kind: 'random_walk' | 'counter' | 'gps_lat' | 'gps_lon' | 'gps_speed' | 'setpoint'
  start: number
  step: number
  low?: number
  high?: number
}

export interface SimulatedDeviceOptions extends DeviceCommonOptions {
  driver: 'simulated'
  points: SimulatedPointOptions[]
  /** Seeds the random walk, for repeatable values. */
  seed?: number
}

export interface SerialPointOptions extends PointOptions {
  /** Where the value comes from: JSON key (dots for nesting), CSV column name, key, regex group or NMEA field; the point's name when unset. */
  field?: string
  type: 'number' | 'string' | 'bool'
}

export interface SerialDeviceOptions extends DeviceCommonOptions, SerialLineOptions {
  driver: 'serial'
  format: 'json' | 'csv' | 'kv' | 'regex' | 'nmea'
  /** Frame delimiter as typed ("\n", "\r\n" escapes allowed); ignored when frameTimeout is set. */
  delimiter: string
  /** ms of silence that ends a frame, for devices without a delimiter. */
  frameTimeout?: number
  /** Longest frame in bytes; longer runs are dropped and counted. */
  maxFrame: number
  /** csv: names of the columns, in order. */
  columns?: string[]
  /** csv: the cell separator. */
  separator: string
  /** kv: between key and value. */
  kvSeparator: string
  /** regex: a pattern with named groups. */
  pattern?: string
  /** Sent every poll interval, for devices that answer on request. */
  pollCommand?: string
  /** ms bounds of the backoff between attempts to reopen a lost port. */
  reconnectMin: number
  reconnectMax: number
  points: SerialPointOptions[]
}

export interface ModbusPointOptions extends PointOptions {
  table: Table
  /** 0-based protocol address (register 30001 of a datasheet is input address 0). */
  address: number
  type: RegisterType
  /** The old combined order (ABCD, BADC, CDAB, DCBA) for this point, 16-bit values included. */
  order?: LegacyOrder
  /** Bytes inside each register; the device's when unset. */
  byteOrder?: Endian
  /** Registers of a 32/64-bit value; the device's when unset. */
  wordOrder?: Endian
  /** string: number of registers. */
  length?: number
  /** bool on a register, and bitfield: the (first) bit, 0 = least significant. */
  bit?: number
  /** bitfield: width in bits, from `bit` up. */
  bits: number
  /** Round the published value to this many decimals. */
  decimals?: number
  /** 6 or 16; the device's when unset. */
  writeFunction?: 6 | 16
}

/** What every Modbus device (RTU, TCP, RTU over TCP) takes. */
export interface ModbusCommonOptions {
  unitId: number
  /** ms a slave has to answer one transaction (and to accept a TCP connection). */
  timeout: number
  /** Further attempts after a timeout or a garbled answer. */
  retries: number
  /** Registers (or bits) read through between two points rather than starting another request. */
  maxGap: number
  maxRegisters: number
  maxBits: number
  /** Bytes inside every register, or (deprecated) an old combined order that applies to 32/64-bit values. */
  byteOrder: Endian | LegacyOrder
  /** Registers of 32/64-bit values; high word first when unset. */
  wordOrder?: Endian
  /** Function for writing holding registers; unset: 6 for one register, 16 for more. */
  writeFunction?: 6 | 16
  /** The device supports FC 22: bit writes use it instead of a read-modify-write. */
  maskWrite: boolean
  /** Commissioning reads/writes of any register through `<topic with {point} = $modbus>/read|write`. */
  registerCommands: boolean
  /** ms bounds of the pause a slave that keeps failing is skipped for. */
  backoffMin: number
  backoffMax: number
  /** ms between two requests on this device's line; the longest of a line's devices applies. */
  requestDelay: number
  /** RTU and RTU over TCP: ms of line silence before each request; 3.5 character times (2 ms over TCP) when unset. */
  frameGap?: number
}

export interface ModbusRtuDeviceOptions extends DeviceCommonOptions, SerialLineOptions, ModbusCommonOptions {
  driver: 'modbus-rtu'
  points: ModbusPointOptions[]
}

export interface ModbusTcpDeviceOptions extends DeviceCommonOptions, ModbusCommonOptions {
  driver: 'modbus-tcp' | 'modbus-rtu-over-tcp'
  host: string
  port: number
  /** Another host to use while `host` refuses or does not answer connections. */
  backupHost?: string
  /** Port on backupHost; `port` when unset. */
  backupPort?: number
  /** ms; while on the backup host, how often to try `host` again and move back to it. */
  failbackInterval: number
  points: ModbusPointOptions[]
}

export type ModbusDeviceOptions = ModbusRtuDeviceOptions | ModbusTcpDeviceOptions

/** One device, told apart by `driver`. */
export type DeviceOptions = SimulatedDeviceOptions | SerialDeviceOptions | ModbusDeviceOptions

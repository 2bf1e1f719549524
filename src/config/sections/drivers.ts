import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse as parseToml } from 'smol-toml'
import * as z from 'zod'
import { EMBEDDED_TEMPLATES } from '../templates-embedded.ts'
import { duration, qos } from './common.ts'

const name = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-"')
const interval = duration.refine((ms) => ms >= 10, 'at least 10 ms')
const parity = z.enum(['none', 'even', 'odd', 'mark', 'space'])
const legacyOrder = z.enum(['ABCD', 'BADC', 'CDAB', 'DCBA'])
/** Bytes inside each register / registers of a 32/64-bit value, as pymodbus and Neuron name them. */
const endian = z.enum(['big', 'little'])
/** 6 (write single register) or 16 (write multiple registers, also for one register). */
const writeFunction = z.union([z.literal(6), z.literal(16)])

/** Fields every point shares: reporting overrides, scaling, write limits. */
const pointCommon = {
  name,
  unit: z.string().optional(),
  qos: qos.optional(),
  poll_interval: interval.optional(),
  /** Report by exception: publish only on a change beyond this (numbers) or any change (others). */
  deadband: z.number().nonnegative().optional(),
  /** With a deadband, publish at least this often even without change. */
  max_silence: duration.optional(),
  scale: z.number().refine((n) => n !== 0, 'must not be 0').default(1),
  offset: z.number().default(0),
  writable: z.boolean().default(false),
  min: z.number().optional(),
  max: z.number().optional(),
  /** Publish this point's readings retained (the device's `retain` unless set). */
  retain: z.boolean().optional(),
}

/** Fields every device shares: where and how its readings are published. */
const deviceCommon = {
  id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-"'),
  enabled: z.boolean().default(true),
  /** `{gateway}`, `{device}`, `{point}` are substituted; commands arrive on `<topic>/set`. */
  topic: z
    .string()
    .refine((t) => t.includes('{point}') && !/[+#]/.test(t), 'must contain "{point}" and no wildcards')
    .default('fieldgate/{gateway}/{device}/{point}'),
  /** `json` publishes {"v","u","ts","q"}; `raw` publishes the bare value. */
  payload: z.enum(['json', 'raw']).default('json'),
  qos: qos.default(0),
  retain: z.boolean().default(false),
  poll_interval: interval.default(1000),
  /** Fraction of the interval each poll is moved by at random, so devices do not poll in lockstep. */
  jitter: z.number().min(0).max(0.5).default(0.1),
  deadband: z.number().nonnegative().optional(),
  max_silence: duration.default(60_000),
  /** A value older than this is republished with quality "stale"; default 3 poll intervals. */
  stale_after: duration.optional(),
}

const serialLine = {
  /** Prefer /dev/serial/by-id/... (or a udev symlink): ttyUSB numbers change between boots. */
  port: z.string().min(1),
  baud: z.number().int().positive().default(9600),
  data_bits: z.union([z.literal(5), z.literal(6), z.literal(7), z.literal(8)]).default(8),
  parity: parity.default('none'),
  stop_bits: z.union([z.literal(1), z.literal(1.5), z.literal(2)]).default(1),
}

const modbusCommon = {
  unit_id: z.number().int().min(0).max(255).default(1),
  /** Per-slave response timeout for one transaction. */
  timeout: duration.default(1000),
  retries: z.number().int().min(0).max(5).default(1),
  /** Registers (or bits) read through between two points rather than starting another request. */
  max_gap: z.number().int().min(0).max(124).default(10),
  max_registers: z.number().int().min(1).max(125).default(125),
  max_bits: z.number().int().min(1).max(2000).default(2000),
  /**
   * Byte order inside every register (16-bit values too): `big` as the Modbus spec says, `little` swaps
   * the two bytes. The old combined values ABCD/BADC/CDAB/DCBA still work (32/64-bit values only), with a
   * deprecation warning.
   */
  byte_order: z.union([endian, legacyOrder]).default('big'),
  /** Register order of 32/64-bit values: `big` = high word first (the default), `little` = low word first. */
  word_order: endian.optional(),
  /** Function for writing holding registers; unset: 6 for one register, 16 for more. */
  write_function: writeFunction.optional(),
  /** The device supports FC 22 (mask write register): bit writes use it instead of a read-modify-write. */
  mask_write: z.boolean().default(false),
  /** Commissioning: reads/writes of any register through `<topic with {point} = $modbus>/read|write`. */
  register_commands: z.boolean().default(false),
  /** A slave that keeps failing is skipped for a growing pause between these bounds. */
  backoff_min: duration.default(1000),
  backoff_max: duration.default(60_000),
  /** Pause between two requests on this device's line (slow slaves, RS-485 converters); the longest on a line applies. */
  request_delay: duration.default(0),
}

const frameGap = {
  /** RTU and RTU over TCP (not used by modbus-tcp): line silence before each request; default 3.5 character times (1.75 ms above 19200 baud; 2 ms over TCP); raise it (e.g. "20ms") behind USB adapters that batch bytes. Everything received before a request is discarded. Devices sharing a port (or an RTU-over-TCP gateway) share one line: give them the same value. */
  frame_gap: duration.optional(),
}

export const modbusPointSchema = z
  .object({
    ...pointCommon,
    table: z.enum(['coil', 'discrete', 'input', 'holding']).default('holding'),
    /** 0-based protocol address (register 30001 of a datasheet is input address 0). */
    address: z.number().int().min(0).max(65535),
    type: z
      .enum(['bool', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string', 'bitfield'])
      .default('uint16'),
    /** The old combined order (ABCD, BADC, CDAB, DCBA) for this point, 16-bit values included. */
    order: legacyOrder.optional(),
    byte_order: endian.optional(),
    word_order: endian.optional(),
    /** string: number of registers. */
    length: z.number().int().min(1).max(125).optional(),
    /** bool on a register, and bitfield: the (first) bit, 0 = least significant. */
    bit: z.number().int().min(0).max(15).optional(),
    /** bitfield: width in bits, from `bit` up. */
    bits: z.number().int().min(1).max(16).default(1),
    /** Round the published value to this many decimals (float32 is otherwise rounded to its own precision). */
    decimals: z.number().int().min(0).max(15).optional(),
    write_function: writeFunction.optional(),
  })
  .strict()
  .superRefine((p, ctx) => {
    // A bit on a whole-register type would silently publish the whole register.
    const onRegister = p.table === 'input' || p.table === 'holding'
    if (p.bit !== undefined && onRegister && p.type !== 'bool' && p.type !== 'bitfield') {
      ctx.addIssue({ code: 'custom', path: ['bit'], message: `bit applies to type "bool" or "bitfield", not "${p.type}"; set type = "bool" to read one bit of the register` })
    }
  })

export const serialPointSchema = z
  .object({
    ...pointCommon,
    /** Where the value comes from: JSON key (dots for nesting), CSV column name, key, regex group or NMEA field. */
    field: z.string().optional(),
    type: z.enum(['number', 'string', 'bool']).default('number'),
  })
  .strict()

export const simulatedPointSchema = z
  .object({
    ...pointCommon,
    kind: z.enum(['random_walk', 'counter', 'gps_lat', 'gps_lon', 'gps_speed', 'setpoint']).default('random_walk'),
    start: z.number().default(0),
    step: z.number().nonnegative().default(0.1),
    low: z.number().optional(),
    high: z.number().optional(),
  })
  .strict()

const defaultSimulatedPoints = [
  { name: 'temperature', kind: 'random_walk', start: 21, step: 0.1, low: -10, high: 45, unit: '°C' },
  { name: 'humidity', kind: 'random_walk', start: 45, step: 0.5, low: 0, high: 100, unit: '%' },
  { name: 'pulses', kind: 'counter', step: 1 },
  { name: 'lat', kind: 'gps_lat', unit: '°' },
  { name: 'lon', kind: 'gps_lon', unit: '°' },
  { name: 'speed', kind: 'gps_speed', unit: 'km/h' },
  { name: 'setpoint', kind: 'setpoint', start: 20, writable: true, min: 5, max: 30, unit: '°C' },
]

export const simulatedDeviceSchema = z
  .object({
    ...deviceCommon,
    driver: z.literal('simulated'),
    points: z.array(simulatedPointSchema).default(() => simulatedPointSchema.array().parse(defaultSimulatedPoints)),
    seed: z.number().int().optional(),
  })
  .strict()

export const serialDeviceSchema = z
  .object({
    ...deviceCommon,
    ...serialLine,
    driver: z.literal('serial'),
    format: z.enum(['json', 'csv', 'kv', 'regex', 'nmea']),
    /** Framing: a delimiter ("\n" by default), or an idle gap in ms after which the bytes so far form a frame. */
    delimiter: z.string().min(1).default('\n'),
    frame_timeout: z.number().int().positive().optional(),
    max_frame: z.number().int().positive().default(4096),
    columns: z.array(z.string()).optional(),
    separator: z.string().min(1).default(','),
    kv_separator: z.string().min(1).default('='),
    pattern: z.string().optional(),
    /** Sent every poll_interval for devices that answer on request. */
    poll_command: z.string().optional(),
    reconnect_min: duration.default(500),
    reconnect_max: duration.default(30_000),
    points: z.array(serialPointSchema).min(1),
  })
  .strict()

export const modbusRtuDeviceSchema = z
  .object({ ...deviceCommon, ...serialLine, ...modbusCommon, ...frameGap, driver: z.literal('modbus-rtu'), points: z.array(modbusPointSchema).min(1) })
  .strict()

export const modbusTcpDeviceSchema = z
  .object({
    ...deviceCommon,
    ...modbusCommon,
    driver: z.enum(['modbus-tcp', 'modbus-rtu-over-tcp']),
    ...frameGap,
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(502),
    /** Another host (a redundant gateway or device) to use while `host` refuses or does not answer connections. */
    backup_host: z.string().min(1).optional(),
    /** Port on backup_host; default: port. */
    backup_port: z.number().int().min(1).max(65535).optional(),
    /** While on backup_host, how often to try `host` again and move back to it. */
    failback_interval: duration.default(60_000),
    points: z.array(modbusPointSchema).min(1),
  })
  .strict()

export const deviceVariantSchema = z.discriminatedUnion('driver', [simulatedDeviceSchema, serialDeviceSchema, modbusRtuDeviceSchema, modbusTcpDeviceSchema])

/** One device; `template = "<name>"` pulls hardware/devices/<name>.toml in first (see expandDeviceTemplate). */
export const deviceSchema = z.preprocess((raw, ctx) => {
  try {
    return expandDeviceTemplate(raw)
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: (err as Error).message, input: raw, path: ['template'] })
    return raw
  }
}, deviceVariantSchema)

export type DeviceConfig = z.infer<typeof deviceVariantSchema>
export type ModbusPointConfig = z.infer<typeof modbusPointSchema>
export type SerialPointConfig = z.infer<typeof serialPointSchema>
export type SimulatedPointConfig = z.infer<typeof simulatedPointSchema>
export type SimulatedDeviceConfig = z.infer<typeof simulatedDeviceSchema>
export type SerialDeviceConfig = z.infer<typeof serialDeviceSchema>
export type ModbusRtuDeviceConfig = z.infer<typeof modbusRtuDeviceSchema>
export type ModbusTcpDeviceConfig = z.infer<typeof modbusTcpDeviceSchema>
export type ModbusDeviceConfig = ModbusRtuDeviceConfig | ModbusTcpDeviceConfig

/**
 * Where device templates are looked up, in order: $FIELDGATE_TEMPLATES_DIR (your own, or overrides of
 * built-in ones), ./hardware/devices, the repository's hardware/devices; then the templates built into
 * the executable.
 */
export function templatesDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = []
  if (env.FIELDGATE_TEMPLATES_DIR) dirs.push(resolve(env.FIELDGATE_TEMPLATES_DIR))
  dirs.push(resolve('hardware/devices'))
  dirs.push(fileURLToPath(new URL('../../../hardware/devices', import.meta.url)))
  return [...new Set(dirs)]
}

/** Reads <name>.toml from the template dirs, or the built-in copy; its optional [template] table (description, datasheet) is dropped. */
export function loadDeviceTemplate(templateName: string, dirs: string[] = templatesDirs(), builtIn: Readonly<Record<string, string>> = EMBEDDED_TEMPLATES): Record<string, unknown> {
  if (!/^[A-Za-z0-9_.-]+$/.test(templateName) || templateName.includes('..')) {
    throw new TypeError(`template "${templateName}": use the file name of a template in hardware/devices without ".toml"`)
  }
  const file = dirs.map((d) => join(d, `${templateName}.toml`)).find((f) => existsSync(f))
  const text = file ? readFileSync(file, 'utf8') : builtIn[templateName]
  if (text === undefined) {
    const known = Object.keys(builtIn)
    throw new TypeError(`template "${templateName}" not found in ${dirs.join(', ')}${known.length > 0 ? ` nor among the built-in ones (${known.join(', ')})` : ''}; set FIELDGATE_TEMPLATES_DIR or fix the name`)
  }
  let parsed: Record<string, unknown>
  try {
    parsed = parseToml(text) as Record<string, unknown>
  } catch (err) {
    throw new TypeError(`template "${templateName}" (${file ?? 'built-in'}) is not valid TOML: ${(err as Error).message.split('\n')[0]}`)
  }
  const { template: _meta, ...rest } = parsed
  return rest
}

/**
 * Merges a device's template under its own keys: the device wins, points merge by name (a device point
 * overrides the template point's fields; new names are appended). Values without `template` pass through.
 */
export function expandDeviceTemplate(raw: unknown, dirs?: string[]): unknown {
  if (!isRecord(raw) || typeof raw.template !== 'string') return raw
  const { template, ...own } = raw
  const base = loadDeviceTemplate(template, dirs)
  const merged: Record<string, unknown> = { ...base, ...own }
  if (Array.isArray(base.points) && Array.isArray(own.points)) {
    const points = base.points.filter(isRecord).map((p) => ({ ...p }))
    for (const p of own.points.filter(isRecord)) {
      const i = points.findIndex((q) => q.name === p.name)
      if (i >= 0) points[i] = { ...points[i], ...p }
      else points.push(p)
    }
    merged.points = points
  }
  return merged
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

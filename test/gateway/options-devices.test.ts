import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import {
  deviceSchema,
  modbusPointSchema,
  modbusRtuDeviceSchema,
  modbusTcpDeviceSchema,
  serialDeviceSchema,
  serialPointSchema,
  simulatedDeviceSchema,
  simulatedPointSchema,
} from '../../src/config/sections/drivers.ts'
import { deviceOptions, driverOptions } from '../../src/gateway/options/devices.ts'

const camel = (key: string): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

/** Every key a point of any driver can have, set away from its default. */
const pointCommon = { unit: 'u', qos: 2, poll_interval: '250ms', deadband: 0.5, max_silence: '30s', scale: 0.1, offset: -4, writable: true, min: -1, max: 99, retain: true }

/** One device per driver with every key of its section set (a key added to the schema must be added here). */
const full: Array<{ raw: Record<string, unknown>; schema: { shape: object }; point: { shape: object } }> = [
  {
    schema: simulatedDeviceSchema,
    point: simulatedPointSchema,
    raw: {
      id: 'sim',
      driver: 'simulated',
      enabled: false,
      topic: 'site/{device}/{point}',
      payload: 'raw',
      qos: 1,
      retain: true,
      poll_interval: '2s',
      jitter: 0.2,
      deadband: 1,
      max_silence: '5m',
      stale_after: '1m',
      seed: 42,
      points: [{ name: 'w', ...pointCommon, kind: 'counter', start: 3, step: 2, low: -5, high: 50 }],
    },
  },
  {
    schema: serialDeviceSchema,
    point: serialPointSchema,
    raw: {
      id: 'line',
      driver: 'serial',
      enabled: true,
      topic: 'a/{point}',
      payload: 'json',
      qos: 2,
      retain: false,
      poll_interval: 500,
      jitter: 0,
      deadband: 0,
      max_silence: 1000,
      stale_after: 9000,
      port: '/dev/serial/by-id/usb-x',
      baud: 19200,
      data_bits: 7,
      parity: 'even',
      stop_bits: 2,
      format: 'csv',
      delimiter: '\\r\\n',
      frame_timeout: 40,
      max_frame: 512,
      columns: ['t', 'h'],
      separator: ';',
      kv_separator: ':',
      pattern: '(?<t>[0-9.]+)',
      poll_command: 'READ\\r\\n',
      reconnect_min: 100,
      reconnect_max: 5000,
      points: [{ name: 't', ...pointCommon, field: 'temp', type: 'string' }],
    },
  },
  {
    schema: modbusRtuDeviceSchema,
    point: modbusPointSchema,
    raw: {
      id: 'meter',
      driver: 'modbus-rtu',
      enabled: true,
      topic: 'm/{device}/{point}',
      payload: 'raw',
      qos: 1,
      retain: true,
      poll_interval: '10s',
      jitter: 0.3,
      deadband: 2,
      max_silence: '2m',
      stale_after: '40s',
      port: '/dev/ttyAMA0',
      baud: 38400,
      data_bits: 8,
      parity: 'odd',
      stop_bits: 1.5,
      unit_id: 7,
      timeout: '300ms',
      retries: 3,
      max_gap: 4,
      max_registers: 80,
      max_bits: 800,
      byte_order: 'CDAB',
      word_order: 'little',
      write_function: 16,
      mask_write: true,
      register_commands: true,
      backoff_min: '2s',
      backoff_max: '20s',
      request_delay: '15ms',
      frame_gap: '20ms',
      points: [
        { name: 'e', ...pointCommon, table: 'holding', address: 342, type: 'bitfield', order: 'BADC', byte_order: 'little', word_order: 'big', length: 2, bit: 3, bits: 4, decimals: 2, write_function: 6 },
      ],
    },
  },
  {
    schema: modbusTcpDeviceSchema,
    point: modbusPointSchema,
    raw: {
      id: 'plc',
      driver: 'modbus-rtu-over-tcp',
      enabled: false,
      topic: 'p/{point}',
      payload: 'json',
      qos: 0,
      retain: false,
      poll_interval: 100,
      jitter: 0.5,
      deadband: 0.25,
      max_silence: 70_000,
      stale_after: 300,
      unit_id: 0,
      timeout: 900,
      retries: 0,
      max_gap: 0,
      max_registers: 10,
      max_bits: 16,
      byte_order: 'little',
      word_order: 'big',
      write_function: 6,
      mask_write: false,
      register_commands: false,
      backoff_min: 10,
      backoff_max: 20,
      request_delay: 5,
      frame_gap: 3,
      host: '192.0.2.10',
      port: 5020,
      backup_host: '192.0.2.11',
      backup_port: 5021,
      failback_interval: '90s',
      points: [{ name: 'c', ...pointCommon, table: 'input', address: 7, type: 'bool', order: 'DCBA', byte_order: 'big', word_order: 'little', length: 4, bit: 0, bits: 1, decimals: 0, write_function: 16 }],
    },
  },
]

test('every key a device or point can set in the config reaches the drivers under its camelCase name, with the same value', () => {
  for (const { raw, schema, point } of full) {
    const id = String(raw.id)
    const keys = Object.keys(schema.shape)
    const pointKeys = Object.keys(point.shape)
    // The fixture is complete, so a key added to the schema fails here until the mapping carries it.
    assert.deepEqual(Object.keys(raw).sort(), [...keys].sort(), `${id}: the fixture sets every device key`)
    const rawPoints = raw.points as Array<Record<string, unknown>>
    assert.deepEqual(Object.keys(rawPoints[0] ?? {}).sort(), [...pointKeys].sort(), `${id}: the fixture sets every point key`)

    const cfg = deviceSchema.parse(raw) as unknown as Record<string, unknown>
    const opts = deviceOptions(deviceSchema.parse(raw)) as unknown as Record<string, unknown>
    assert.deepEqual(Object.keys(opts).sort(), keys.map(camel).sort(), `${id}: one option per key, no more`)
    for (const k of keys.filter((k) => k !== 'points')) assert.deepEqual(opts[camel(k)], cfg[k], `${id}: ${k}`)
    const cfgPoints = cfg.points as Array<Record<string, unknown>>
    const optPoints = opts.points as Array<Record<string, unknown>>
    assert.equal(optPoints.length, cfgPoints.length)
    for (const [i, p] of cfgPoints.entries()) {
      const o = optPoints[i] ?? {}
      assert.deepEqual(Object.keys(o).sort(), pointKeys.map(camel).sort(), `${id}: one point option per key`)
      for (const k of pointKeys) assert.deepEqual(o[camel(k)], p[k], `${id}.points[${i}]: ${k}`)
    }
  }
})

test('a device whose config differs in any one key gets different options (the reload plan compares configs, the driver host options)', () => {
  const base = full[2]?.raw as Record<string, unknown>
  const changes: Record<string, unknown> = { unit_id: 8, timeout: '301ms', byte_order: 'big', frame_gap: '21ms', enabled: false, stale_after: '41s', request_delay: 0 }
  const before = deviceOptions(deviceSchema.parse(base))
  for (const [k, v] of Object.entries(changes)) assert.notDeepStrictEqual(deviceOptions(deviceSchema.parse({ ...base, [k]: v })), before, k)
  const points = [{ ...(base.points as Array<Record<string, unknown>>)[0], address: 343 }]
  assert.notDeepStrictEqual(deviceOptions(deviceSchema.parse({ ...base, points })), before, 'points[0].address')
})

test('the defaults the schema fills in are what the drivers get', () => {
  const opts = deviceOptions(deviceSchema.parse({ id: 'm', driver: 'modbus-tcp', host: '127.0.0.1', points: [{ name: 'v', address: 0 }] }))
  assert.ok(opts.driver === 'modbus-tcp')
  assert.equal(opts.port, 502)
  assert.equal(opts.unitId, 1)
  assert.equal(opts.timeout, 1000)
  assert.equal(opts.byteOrder, 'big')
  assert.equal(opts.wordOrder, undefined)
  assert.equal(opts.maxRegisters, 125)
  assert.equal(opts.pollInterval, 1000)
  assert.equal(opts.topic, 'fieldgate/{gateway}/{device}/{point}')
  assert.equal(opts.points[0]?.table, 'holding')
  assert.equal(opts.points[0]?.type, 'uint16')
  assert.equal(opts.points[0]?.scale, 1)
})

test('driverOptions maps every device of a validated config in order, disabled ones and template devices included', () => {
  const config = validateConfig({
    devices: [
      { id: 'b', driver: 'simulated', enabled: false },
      { id: 'meter', template: 'eastron-sdm120', port: '/dev/ttyUSB1', unit_id: 7 },
      { id: 'a', driver: 'simulated' },
    ],
  })
  const opts = driverOptions(config.devices)
  assert.deepEqual(
    opts.map((d) => [d.id, d.driver, d.enabled]),
    [
      ['b', 'simulated', false],
      ['meter', 'modbus-rtu', true],
      ['a', 'simulated', true],
    ],
  )
  const meter = opts[1]
  assert.ok(meter?.driver === 'modbus-rtu')
  assert.equal(meter.unitId, 7)
  assert.equal(meter.maxRegisters, 80)
  assert.deepEqual(opts, config.devices.map(deviceOptions))
})

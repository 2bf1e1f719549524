import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describe, test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import { deviceSchema, expandDeviceTemplate } from '../../src/config/sections/drivers.ts'

const dir = resolve('hardware/devices')

describe('device configuration', () => {
  test('fills defaults for a Modbus RTU device and applies them to points', () => {
    const d = deviceSchema.parse({ id: 'm', driver: 'modbus-rtu', port: '/dev/ttyUSB0', points: [{ name: 'v', address: 0 }] })
    assert.equal(d.driver, 'modbus-rtu')
    if (d.driver !== 'modbus-rtu') return
    assert.equal(d.baud, 9600)
    assert.equal(d.parity, 'none')
    assert.equal(d.unit_id, 1)
    assert.equal(d.topic, 'fieldgate/{gateway}/{device}/{point}')
    assert.equal(d.max_registers, 125)
    assert.deepEqual(d.points[0], { name: 'v', address: 0, table: 'holding', type: 'uint16', bits: 1, scale: 1, offset: 0, writable: false })
  })

  test('a bit on a whole-register type is a config error naming the key (it would publish the whole register); bool and bitfield take it', () => {
    const bad = deviceSchema.safeParse({ id: 'm', driver: 'modbus-tcp', host: 'h', points: [{ name: 'x', address: 1, type: 'uint16', bit: 3 }] })
    assert.equal(bad.success, false)
    assert.deepEqual(bad.error?.issues[0]?.path, ['points', 0, 'bit'])
    assert.match(bad.error?.issues[0]?.message ?? '', /set type = "bool"/)
    for (const type of ['bool', 'bitfield']) assert.ok(deviceSchema.safeParse({ id: 'm', driver: 'modbus-tcp', host: 'h', points: [{ name: 'x', address: 1, type, bit: 3 }] }).success)
  })

  test('byte_order takes big/little and, deprecated, the old ABCD/BADC/CDAB/DCBA; word_order big/little', () => {
    const base = { id: 'm', driver: 'modbus-tcp', host: 'h', points: [{ name: 'x', address: 1 }] }
    for (const byte_order of ['big', 'little', 'ABCD', 'BADC', 'CDAB', 'DCBA']) assert.ok(deviceSchema.safeParse({ ...base, byte_order }).success, byte_order)
    assert.equal(deviceSchema.safeParse({ ...base, word_order: 'CDAB' }).success, false)
    const d = deviceSchema.parse(base)
    assert.ok(d.driver === 'modbus-tcp' && d.byte_order === 'big' && d.word_order === undefined && d.register_commands === false && d.mask_write === false)
  })

  test('accepts durations as strings', () => {
    const d = deviceSchema.parse({ id: 't', driver: 'modbus-tcp', host: '127.0.0.1', poll_interval: '250ms', timeout: '2s', points: [{ name: 'a', address: 1 }] })
    assert.equal(d.poll_interval, 250)
    assert.ok(d.driver === 'modbus-tcp' && d.timeout === 2000 && d.port === 502)
  })

  test('rejects keys that belong to another driver kind and unknown point keys', () => {
    assert.equal(deviceSchema.safeParse({ id: 's', driver: 'simulated', host: 'x' }).success, false)
    const bad = deviceSchema.safeParse({ id: 'm', driver: 'modbus-tcp', host: 'h', points: [{ name: 'a', address: 1, adress: 2 }] })
    assert.equal(bad.success, false)
  })

  test('names the allowed driver kinds when the driver is unknown', () => {
    const r = deviceSchema.safeParse({ id: 'x', driver: 'canbus' })
    assert.equal(r.success, false)
    assert.match(JSON.stringify(r.error?.issues), /modbus-rtu/)
  })

  test('a simulated device without points gets temperature, humidity, a counter, a GPS track and a setpoint', () => {
    const d = deviceSchema.parse({ id: 'sim', driver: 'simulated' })
    assert.deepEqual(
      d.points.map((p) => p.name),
      ['temperature', 'humidity', 'pulses', 'lat', 'lon', 'speed', 'setpoint'],
    )
  })

  test('a config that names a template only sets the port and unit id', () => {
    const d = deviceSchema.parse(expandDeviceTemplate({ id: 'meter', template: 'eastron-sdm120', port: '/dev/ttyUSB1', unit_id: 7 }, [dir]))
    assert.ok(d.driver === 'modbus-rtu')
    assert.equal(d.baud, 2400)
    assert.equal(d.unit_id, 7)
    assert.equal(d.points.find((p) => p.name === 'total_energy')?.address, 342)
  })

  test('device keys override the template and points merge by name', () => {
    const raw = expandDeviceTemplate(
      { id: 'th', template: 'xy-md02', port: '/dev/x', baud: 19200, points: [{ name: 'temperature', deadband: 0.5 }, { name: 'extra', table: 'holding', address: 0x101 }] },
      [dir],
    ) as Record<string, unknown>
    const d = deviceSchema.parse(raw)
    assert.equal(d.poll_interval, 10_000)
    assert.ok(d.driver === 'modbus-rtu' && d.baud === 19200)
    const t = d.points.find((p) => p.name === 'temperature')
    assert.equal(t?.deadband, 0.5)
    assert.equal(t?.scale, 0.1)
    assert.equal(d.points.length, 5)
  })

  test('every template in hardware/devices validates with only its connection set', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.toml'))
    assert.ok(files.length >= 4)
    for (const f of files) {
      const name = f.replace(/\.toml$/, '')
      const raw = expandDeviceTemplate({ id: 'dev', template: name, port: '/dev/ttyUSB0' }, [dir]) as Record<string, unknown>
      if (raw.driver === 'modbus-tcp' || raw.driver === 'modbus-rtu-over-tcp') {
        delete raw.port
        raw.host = '192.0.2.10'
      }
      const r = deviceSchema.safeParse(raw)
      assert.ok(r.success, `${name}: ${JSON.stringify(r.error?.issues)}`)
    }
  })

  test('an unknown template is reported on the device key with the directories searched', () => {
    const save = process.env.FIELDGATE_TEMPLATES_DIR
    process.env.FIELDGATE_TEMPLATES_DIR = join(dir)
    try {
      assert.throws(
        () => validateConfig({ devices: [{ id: 'x', template: 'no-such-meter', port: '/dev/x' }] }),
        (err: Error) => /devices\[0\]\.template/.test(err.message) && /no-such-meter" not found/.test(err.message),
      )
      const ok = validateConfig({ devices: [{ id: 'x', template: 'xy-md02', port: '/dev/x', unit_id: 3 }] })
      assert.equal(ok.devices[0]?.driver, 'modbus-rtu')
    } finally {
      if (save === undefined) delete process.env.FIELDGATE_TEMPLATES_DIR
      else process.env.FIELDGATE_TEMPLATES_DIR = save
    }
  })

  test('a template name cannot climb out of the templates directory', () => {
    assert.throws(() => expandDeviceTemplate({ id: 'x', template: '../../etc/passwd' }, [dir]), /template/)
  })
})

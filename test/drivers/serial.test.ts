import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { SerialPort } from 'serialport'
import { silentLogger, systemClock, type Logger, type Reading } from '../../src/core/index.ts'
import { SerialDriver, type SerialDeviceOptions } from '../../src/drivers/index.ts'
import { nmeaChecksum } from '../../src/drivers/serial/parsers/nmea.ts'
import { ptyPair, type PtyPair } from '../helpers/socat.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { captureLogger } from '../helpers/logger.ts'
import { device } from './devices.ts'

const { dir, cleanup } = tempDir('fieldgate-serial-')
const pairs: PtyPair[] = []
const ports: SerialPort[] = []
after(async () => {
  for (const p of ports) if (p.isOpen) await new Promise((r) => p.close(r))
  for (const p of pairs) await p.unplug()
  cleanup()
})

function cfg(port: string, extra: Record<string, unknown>): SerialDeviceOptions {
  const d = device({ id: 'line', driver: 'serial', port, reconnect_min: 50, reconnect_max: 200, ...extra })
  assert.equal(d.driver, 'serial')
  return d as SerialDeviceOptions
}

async function devicePort(path: string): Promise<SerialPort> {
  const p = new SerialPort({ path, baudRate: 9600, autoOpen: false })
  await new Promise<void>((resolve, reject) => p.open((e) => (e ? reject(e) : resolve())))
  p.on('error', () => undefined)
  ports.push(p)
  return p
}

async function run(name: string, extra: Record<string, unknown>, lines: string[], want: number, logger: Logger = silentLogger) {
  const pair = await ptyPair(dir, name)
  pairs.push(pair)
  const got: Reading[] = []
  const drv = new SerialDriver(cfg(pair.a, extra), { logger, clock: systemClock })
  const ac = new AbortController()
  await drv.start((r) => got.push(r), ac.signal)
  await waitFor(() => drv.status().details.state === 'running', 3000, 10, 'port open')
  const dev = await devicePort(pair.b)
  dev.write(lines.join(''))
  await waitFor(() => got.length >= want, 3000, 10, `${want} readings`)
  await drv.stop()
  return { got, drv }
}

const values = (rs: Reading[]) => rs.map((r) => [r.point, r.value, r.quality])

describe('serial line devices over socat ptys', { timeout: 40_000 }, () => {
  test('JSON per line: each configured point becomes a reading with its unit and scale', async () => {
    const { got } = await run('json', { format: 'json', points: [{ name: 't', unit: '°C' }, { name: 'rh', field: 'env.rh', scale: 0.1 }] }, ['{"t":21.5,"env":{"rh":405}}\n'], 2)
    assert.deepEqual(values(got), [
      ['t', 21.5, 'good'],
      ['rh', 40.5, 'good'],
    ])
    assert.equal(got[0]?.unit, '°C')
    assert.ok(Math.abs((got[0]?.ts ?? 0) - Date.now()) < 10_000)
  })

  test('CSV with a column mapping, key=value pairs and regex named groups', async () => {
    const csv = await run('csv', { format: 'csv', columns: ['ts', 'temp', 'state'], points: [{ name: 'temp' }, { name: 'state', type: 'string' }] }, ['1,19.25,ok\r\n'], 2)
    assert.deepEqual(values(csv.got), [
      ['temp', 19.25, 'good'],
      ['state', 'ok', 'good'],
    ])
    const kv = await run('kv', { format: 'kv', points: [{ name: 'T' }, { name: 'ON', type: 'bool' }] }, ['T=3.5 ON=1\n'], 2)
    assert.deepEqual(values(kv.got), [
      ['T', 3.5, 'good'],
      ['ON', true, 'good'],
    ])
    const rx = await run('rx', { format: 'regex', pattern: '^W:(?<w>[0-9.]+)kg$', points: [{ name: 'weight', field: 'w', unit: 'kg' }] }, ['W:12.5kg\n'], 1)
    assert.deepEqual(values(rx.got), [['weight', 12.5, 'good']])
  })

  test('NMEA: GGA and RMC with valid checksums give position and speed; a corrupted sentence is counted as garbage, u-blox $PUBX is not', async () => {
    const gga = 'GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,'
    const rmc = 'GPRMC,123520,A,4807.038,N,01131.000,E,010.0,084.4,230394,003.1,W'
    const pubx = 'PUBX,00,081350.00,4717.113210,N,00833.915187,E,546.589,G3,2.1,2.0,0.007,77.52,0.007,,0.92,1.19,0.77,9,0,0'
    const lines = [
      `$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*00\r\n`,
      `$${pubx}*${nmeaChecksum(pubx)}\r\n`,
      `$${gga}*${nmeaChecksum(gga)}\r\n`,
      `$${rmc}*${nmeaChecksum(rmc)}\r\n`,
    ]
    // As DriverFactory does: the device's logger is a child carrying `device`; lines do not repeat it.
    const log = captureLogger().child({ device: 'nmea' }) as ReturnType<typeof captureLogger>
    const { got, drv } = await run('nmea', { format: 'nmea', delimiter: '\r\n', points: [{ name: 'lat' }, { name: 'satellites' }, { name: 'speed' }] }, lines, 4, log)
    assert.ok(log.lines.some((l) => l.msg === 'serial port open'))
    assert.ok(log.lines.every((l) => !('device' in l.obj)), JSON.stringify(log.lines))
    assert.deepEqual(values(got), [
      ['lat', 48.1173, 'good'],
      ['satellites', 8, 'good'],
      ['lat', 48.1173, 'good'],
      ['speed', 18.52, 'good'],
    ])
    assert.equal(drv.status().details.garbage, 1)
  })

  test('garbage between good lines is counted and skipped, bad values become error readings', async () => {
    const lines = ['{"t":1}\n', 'xx\u0000\u00ff garbage\n', '{"t":2}\n', '{"t":"warm"}\n', '{"t":3}\n']
    const { got, drv } = await run('garbage', { format: 'json', points: [{ name: 't' }] }, lines, 4)
    assert.deepEqual(values(got), [
      ['t', 1, 'good'],
      ['t', 2, 'good'],
      ['t', 0, 'error'],
      ['t', 3, 'good'],
    ])
    const st = drv.status().details
    assert.equal(st.garbage, 1)
    assert.equal(st.successes, 3)
    assert.equal(st.errors, 1)
  })

  test('frames by inter-byte timeout when the device sends no delimiter', async () => {
    const pair = await ptyPair(dir, 'idle')
    pairs.push(pair)
    const got: Reading[] = []
    const drv = new SerialDriver(cfg(pair.a, { format: 'kv', frame_timeout: 30, points: [{ name: 'a' }] }), { logger: silentLogger, clock: systemClock })
    await drv.start((r) => got.push(r), new AbortController().signal)
    await waitFor(() => drv.status().details.state === 'running', 3000, 10, 'open')
    const dev = await devicePort(pair.b)
    dev.write('a=4')
    await waitFor(() => got.length >= 1, 3000, 10, 'frame 1')
    dev.write('a=5')
    await waitFor(() => got.length >= 2, 3000, 10, 'frame 2')
    assert.deepEqual(
      got.map((r) => r.value),
      [4, 5],
    )
    await drv.stop()
  })

  test('sends poll_command every poll interval to devices that answer on request', async () => {
    const pair = await ptyPair(dir, 'ask')
    pairs.push(pair)
    const got: Reading[] = []
    const drv = new SerialDriver(cfg(pair.a, { format: 'kv', poll_command: 'READ\\r\\n', poll_interval: 50, points: [{ name: 'v' }] }), { logger: silentLogger, clock: systemClock })
    const dev = await devicePort(pair.b)
    let asked = 0
    dev.on('data', (d: Buffer) => {
      if (d.toString().includes('READ\r\n')) dev.write(`v=${++asked}\n`)
    })
    await drv.start((r) => got.push(r), new AbortController().signal)
    await waitFor(() => got.length >= 3, 5000, 10, 'three answers')
    await drv.stop()
    assert.deepEqual(
      got.slice(0, 3).map((r) => r.value),
      [1, 2, 3],
    )
  })

  test('unplug and re-plug: reports disconnected, reopens a new port with backoff when the device is back, resumes', async () => {
    let pair = await ptyPair(dir, 'usb')
    pairs.push(pair)
    const got: Reading[] = []
    const states: string[] = []
    const drv = new SerialDriver(cfg(pair.a, { format: 'json', points: [{ name: 'n' }] }), { logger: silentLogger, clock: systemClock })
    drv.onState((s) => states.push(s))
    await drv.start((r) => got.push(r), new AbortController().signal)
    await waitFor(() => drv.status().details.state === 'running', 3000, 10, 'open')
    let dev = await devicePort(pair.b)
    dev.write('{"n":1}\n')
    await waitFor(() => got.length === 1, 3000, 10, 'first reading')

    await pair.unplug()
    await waitFor(() => drv.status().details.state === 'disconnected', 3000, 10, 'disconnect noticed')
    // while unplugged the reopen attempts fail (no such file) and keep backing off
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(drv.status().details.state, 'disconnected')

    pair = await ptyPair(dir, 'usb')
    pairs.push(pair)
    await waitFor(() => drv.status().details.state === 'running', 5000, 10, 'reopened')
    dev = await devicePort(pair.b)
    dev.write('{"n":2}\n')
    await waitFor(() => got.length === 2, 3000, 10, 'reading after re-plug')
    assert.deepEqual(
      got.map((r) => r.value),
      [1, 2],
    )
    assert.deepEqual(states.slice(0, 3), ['starting', 'running', 'disconnected'])
    assert.equal(states.at(-1), 'running')
    const st = drv.status().details
    assert.equal(st.opens, 2)
    assert.match(String((st.lastError as { message: string }).message), /disconnected|cannot open/)
    await drv.stop()
  })
})

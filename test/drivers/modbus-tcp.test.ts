import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:net'
import { after, describe, test } from 'node:test'
import { ServerTCP } from 'modbus-serial'
import { silentLogger, systemClock, type Reading } from '../../src/core/index.ts'
import { createDriverHost, DriverFactory, ModbusDriver, probeDevice, type ModbusDeviceOptions } from '../../src/drivers/index.ts'
import { freePort } from '../helpers/ports.ts'
import { waitFor } from '../helpers/tmp.ts'
import { device, modbusDevice } from './devices.ts'
import { FakeBroker } from './fake-broker.ts'
import { FaultyRtuSlave } from './fake-rtu-slave.ts'
import { RegisterBank } from './modbus-sim.ts'

const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined)
})

async function tcpServer(bank: RegisterBank, port?: number): Promise<{ port: number; close(): Promise<void> }> {
  const p = port ?? (await freePort())
  const srv = new ServerTCP(bank.vector(), { host: '127.0.0.1', port: p, unitID: 255 })
  srv.on('socketError', () => undefined)
  srv.on('serverError', () => undefined)
  await new Promise<void>((resolve) => srv.on('initialized', () => resolve()))
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    for (const s of srv.socks.keys()) s.destroy()
    await new Promise<void>((r) => srv.close(() => r()))
  }
  closers.push(close)
  return { port: p, close }
}

function tcp(port: number, extra: Record<string, unknown>): ModbusDeviceOptions {
  return modbusDevice({ id: 'io', driver: 'modbus-tcp', host: '127.0.0.1', port, timeout: 500, retries: 0, jitter: 0, ...extra })
}

function make(cfg: ModbusDeviceOptions): ModbusDriver {
  const f = new DriverFactory({ logger: silentLogger, clock: systemClock })
  closers.push(() => f.close())
  return f.create(cfg) as ModbusDriver
}

const writable = [
  { name: 'sp', address: 10, type: 'int16', scale: 0.1, writable: true, min: -20, max: 80, unit: '°C' },
  { name: 'mode', address: 11, type: 'uint16' },
  { name: 'label', address: 12, type: 'string', length: 2, writable: true },
  { name: 'big', address: 14, type: 'uint32', writable: true },
  { name: 'relay', table: 'coil', address: 0, writable: true },
  { name: 'temp', table: 'input', address: 0, writable: true },
  { name: 'hole', address: 40, writable: true },
]

describe('Modbus TCP on loopback with ServerTCP', { timeout: 45_000 }, () => {
  test('writes are checked, written with scale reversed, read back and confirmed', async () => {
    const bank = new RegisterBank().set(1, 'holding', 10, [0, 0, 0, 0, 0, 0]).set(1, 'coil', 0, [false]).set(1, 'input', 0, [1])
    const srv = await tcpServer(bank)
    const drv = make(tcp(srv.port, { points: writable }))
    assert.deepEqual(await drv.writeConfirmed('sp', -3.5), { point: 'sp', value: -3.5, readback: -3.5 })
    assert.equal(bank.get(1, 'holding', 10), 0xffdd) // -35 as int16
    assert.deepEqual(await drv.writeConfirmed('label', 'OK'), { point: 'label', value: 'OK', readback: 'OK' })
    assert.deepEqual(await drv.writeConfirmed('big', 70000), { point: 'big', value: 70000, readback: 70000 })
    assert.deepEqual([bank.get(1, 'holding', 14), bank.get(1, 'holding', 15)], [1, 4464])
    assert.deepEqual(await drv.writeConfirmed('relay', 'on'), { point: 'relay', value: true, readback: true })
  })

  test('every rejection path gives a coded error that says why, and nothing is written', async () => {
    const bank = new RegisterBank().set(1, 'holding', 10, [0, 0, 0, 0, 0, 0]).set(1, 'coil', 0, [false]).set(1, 'input', 0, [1])
    const srv = await tcpServer(bank)
    const drv = make(tcp(srv.port, { points: writable }))
    const cases: Array<[string, unknown, RegExp, string]> = [
      ['nope', 1, /no such point/, 'DRIVER_WRITE_REJECTED'],
      ['mode', 1, /not writable/, 'DRIVER_WRITE_REJECTED'],
      ['temp', 1, /input registers are read-only/, 'DRIVER_WRITE_REJECTED'],
      ['sp', 95, /above the configured maximum 80/, 'DRIVER_WRITE_REJECTED'],
      ['sp', -21, /below the configured minimum -20/, 'DRIVER_WRITE_REJECTED'],
      ['sp', 'hot', /expects a number/, 'DRIVER_WRITE_REJECTED'],
      ['relay', 2, /expects true or false/, 'DRIVER_WRITE_REJECTED'],
      ['label', 'TOO LONG', /longer than 4 bytes/, 'DRIVER_WRITE_REJECTED'],
      ['big', -1, /outside uint32 range/, 'DRIVER_WRITE_REJECTED'],
      ['big', undefined, /no value/, 'DRIVER_WRITE_REJECTED'],
      ['hole', 1, /exception 2 \(illegal data address\)/, 'DRIVER_MODBUS_EXCEPTION'],
    ]
    const before = bank.requests.filter((r) => r.op.startsWith('write')).length
    for (const [point, value, msg, code] of cases) {
      await assert.rejects(drv.writeConfirmed(point, value), (err: Error & { code?: string }) => msg.test(err.message) && err.code === code, `${point}=${String(value)}`)
    }
    // only the write to the hole reached the device (and was refused there)
    assert.equal(bank.requests.filter((r) => r.op.startsWith('write')).length - before, 1)
    bank.frozen = true
    await assert.rejects(drv.writeConfirmed('sp', 20), /reads back 0 after writing 20/)
  })

  test('DriverHost: readings published, a command over the broker writes and the result carries the read-back', async () => {
    const bank = new RegisterBank().set(1, 'holding', 10, [215, 3, 0, 0, 0, 0]).set(1, 'coil', 0, [false]).set(1, 'input', 0, [1])
    const srv = await tcpServer(bank)
    const broker = new FakeBroker()
    const dev = tcp(srv.port, { poll_interval: 50, points: writable.filter((p) => p.name !== 'hole') })
    const host = createDriverHost({ devices: [dev], gatewayId: 'gw', broker, logger: silentLogger })
    await host.start()
    await waitFor(() => broker.on('fieldgate/gw/io/sp').length > 0, 5000, 10, 'sp reading')
    assert.deepEqual(broker.on('fieldgate/gw/io/sp')[0]?.v, 21.5)
    assert.equal(broker.on('fieldgate/gw/io/sp')[0]?.u, '°C')
    await broker.deliver({ topic: 'fieldgate/gw/io/sp/set', payload: Buffer.from('{"v": 19}'), qos: 1, retain: false })
    const res = broker.on('fieldgate/gw/io/sp/set/result')
    assert.deepEqual([res[0]?.ok, res[0]?.value, res[0]?.readback], [true, 19, 19])
    await waitFor(() => broker.on('fieldgate/gw/io/sp').some((r) => r.v === 19), 5000, 10, 'new value published')
    const st = host.status()
    assert.equal(st.health, 'ok')
    const d = (st.details.devices as Record<string, Record<string, unknown>>).io
    assert.equal(d?.requestsPerPoll, 3)
    assert.ok(typeof d?.pollLatencyMs === 'number')
    await host.stop()
  })

  test('a TCP device whose server goes away reports errors and resumes when it is back on the same port', async () => {
    const bank = new RegisterBank().set(1, 'holding', 0, [5])
    let srv = await tcpServer(bank)
    const port = srv.port
    const drv = make(tcp(port, { poll_interval: 30, backoff_min: 50, backoff_max: 100, points: [{ name: 'x', address: 0 }] }))
    const got: Reading[] = []
    const ac = new AbortController()
    await drv.start((r) => got.push(r), ac.signal)
    await waitFor(() => got.some((r) => r.quality === 'good'), 5000, 10, 'first good')
    await srv.close()
    await waitFor(() => got.at(-1)?.quality === 'error', 5000, 10, 'error after server stops')
    // connection refused while the server is away: the device reports its link as down
    await waitFor(() => drv.status().details.state === 'disconnected', 5000, 10, 'disconnected state')
    bank.set(1, 'holding', 0, [6])
    srv = await tcpServer(bank, port)
    await waitFor(() => got.at(-1)?.quality === 'good' && got.at(-1)?.value === 6, 8000, 10, 'resumed')
    await drv.stop()
    ac.abort()
  })

  test('Modbus RTU over TCP talks RTU frames through a serial-server socket', async () => {
    const port = await freePort()
    const server: Server = createServer((sock) => {
      sock.on('error', () => undefined)
      new FaultyRtuSlave(sock, sock)
    })
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
    closers.push(() => new Promise((r) => server.close(() => r())))
    const cfg = modbusDevice({ id: 'gw485', driver: 'modbus-rtu-over-tcp', host: '127.0.0.1', port, timeout: 500, points: [{ name: 'r7', table: 'input', address: 7 }] })
    const drv = make(cfg)
    const got: Reading[] = []
    await drv.pollOnce((r) => got.push(r))
    assert.deepEqual(
      got.map((r) => [r.point, r.value, r.quality]),
      [['r7', 7, 'good']],
    )
    await drv.stop()
    const probe = await probeDevice(cfg, silentLogger)
    assert.equal(probe.ok, true, probe.detail)
  })

  test('probeDevice says whether a device answers and why not', async () => {
    const bank = new RegisterBank().set(1, 'holding', 0, [5])
    const srv = await tcpServer(bank)
    assert.deepEqual(await probeDevice(tcp(srv.port, { points: [{ name: 'x', address: 0 }] }), silentLogger), {
      ok: true,
      detail: `unit 1 at 127.0.0.1:${srv.port} answered a read of x (holding 0)`,
    })
    const bad = await probeDevice(tcp(srv.port, { points: [{ name: 'y', address: 9 }] }), silentLogger)
    assert.equal(bad.ok, false)
    assert.match(bad.detail, /exception 2/)
    const closedPort = await freePort()
    const down = await probeDevice(tcp(closedPort, { points: [{ name: 'x', address: 0 }] }), silentLogger)
    assert.equal(down.ok, false)
    assert.match(down.detail, /cannot open 127\.0\.0\.1/)
    const missing = await probeDevice(device({ id: 's', driver: 'serial', format: 'json', port: '/dev/serial/by-id/nothing-here', points: [{ name: 'a' }] }), silentLogger)
    assert.deepEqual(missing.ok, false)
    assert.match(missing.detail, /does not exist/)
  })
})

import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { silentLogger, systemClock, type Reading } from '../../src/core/index.ts'
import { DriverFactory, ModbusDriver } from '../../src/drivers/index.ts'
import { startPymodbus, startPymodbusRtu } from '../helpers/pymodbus.ts'
import { tempDir } from '../helpers/tmp.ts'
import { modbusDevice } from './devices.ts'

// The drivers against pymodbus (an implementation we did not write), over TCP and over a paced RTU bus.
const { dir, cleanup } = tempDir('fieldgate-pymodbus-')
const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined)
  cleanup()
})

function make(cfg: Record<string, unknown>): ModbusDriver {
  const f = new DriverFactory({ logger: silentLogger, clock: systemClock })
  closers.push(() => f.close())
  return f.create(modbusDevice({ id: 'dev', timeout: 500, retries: 0, jitter: 0, ...cfg })) as ModbusDriver
}

async function poll(drv: ModbusDriver): Promise<Record<string, unknown>> {
  const rs: Reading[] = []
  await drv.pollOnce((r) => rs.push(r))
  return Object.fromEntries(rs.map((r) => [r.point, r.quality === 'good' ? r.value : `${r.quality}: ${r.error ?? ''}`]))
}

const points = [
  { name: 'a', address: 0, type: 'uint16' },
  { name: 'b', address: 1, type: 'int16' },
  { name: 'c', address: 4, type: 'uint16' },
  { name: 'relay', table: 'coil', address: 3 },
]

describe('pymodbus peer', { timeout: 60_000 }, () => {
  test('Modbus TCP: values come from pymodbus, a register change is seen, an exception reaches its point', async () => {
    const peer = await startPymodbus({ mode: 'tcp', units: { 7: { holding: { 0: [258, 0xfffe, 0, 0, 99] }, coil: { 3: [true] } } } })
    closers.push(() => peer.stop())
    const drv = make({ driver: 'modbus-tcp', host: '127.0.0.1', port: peer.port, unit_id: 7, points })
    assert.deepEqual(await poll(drv), { a: 258, b: -2, c: 99, relay: true })
    await peer.set(7, 'holding', 4, [100])
    assert.equal((await poll(drv)).c, 100)
    await peer.fault({ action: 'exception', code: 4, fc: 1 })
    const r = await poll(drv)
    assert.equal(r.c, 100)
    assert.match(String(r.relay), /^error: .*exception 4/)
    const log = (await peer.stats()).log
    assert.deepEqual(log.slice(-2).map((q) => `${q.unit}/${q.fc}/${q.address}+${q.count}`).sort(), ['7/1/3+1', '7/3/0+5'])
  })

  test('Modbus RTU on a paced 9600 baud bus: values match and each read takes at least its time on the wire', async () => {
    const rtu = await startPymodbusRtu(dir, { baudRate: 9600, units: { 2: { holding: { 0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } } } })
    closers.push(() => rtu.stop())
    const drv = make({ driver: 'modbus-rtu', port: rtu.path, baud: 9600, unit_id: 2, timeout: 1000, points: [{ name: 'first', address: 0 }, { name: 'last', address: 9 }] })
    assert.deepEqual(await poll(drv), { first: 1, last: 10 })
    // 8-byte request + 25-byte answer = 33 characters of 10 bits at 9600 baud: 34.4 ms is physics, not a tolerance.
    const t0 = performance.now()
    assert.deepEqual(await poll(drv), { first: 1, last: 10 })
    assert.ok(performance.now() - t0 >= 33, `a paced read took ${(performance.now() - t0).toFixed(1)} ms`)
  })

  test('strict mode refuses a read over a hole with exception 2 (illegal data address)', async () => {
    const peer = await startPymodbus({ mode: 'tcp', strict: true, units: { 1: { holding: { 0: [5], 2: [6] } } } })
    closers.push(() => peer.stop())
    const drv = make({ driver: 'modbus-tcp', host: '127.0.0.1', port: peer.port, max_gap: 4, points: [{ name: 'x', address: 0 }, { name: 'y', address: 2 }] })
    assert.deepEqual(await poll(drv), { x: 5, y: 6 })
    const log = (await peer.stats()).log.map((q) => [q.address, q.count])
    assert.deepEqual(log[0], [0, 3], 'the coalesced read over the hole was tried first')
    assert.ok(log.length > 1, 'and refused')
  })
})

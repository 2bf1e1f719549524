import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, describe, test } from 'node:test'
import { promisify } from 'node:util'
import { ServerTCP } from 'modbus-serial'
import { silentLogger } from '../../src/core/index.ts'
import { createDriverHost, type DriverHost } from '../../src/drivers/index.ts'
import { connectCollect, endClient, startBroker, type TestBroker } from '../broker/helpers.ts'
import { freePort } from '../helpers/ports.ts'
import { waitFor } from '../helpers/tmp.ts'
import { device } from './devices.ts'
import { RegisterBank } from './modbus-sim.ts'

const run = promisify(execFile)
const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined)
})

async function setup(): Promise<{ tb: TestBroker; host: DriverHost; bank: RegisterBank }> {
  const bank = new RegisterBank().set(1, 'holding', 0, [215, 0]).set(1, 'coil', 0, [false])
  const mbPort = await freePort()
  const srv = new ServerTCP(bank.vector(), { host: '127.0.0.1', port: mbPort, unitID: 255 })
  srv.on('socketError', () => undefined)
  await new Promise<void>((r) => srv.on('initialized', () => r()))
  closers.push(async () => {
    for (const s of srv.socks.keys()) s.destroy()
    await new Promise<void>((r) => srv.close(() => r()))
  })
  const tb = await startBroker()
  closers.push(() => tb.close())
  const devices = [
    device({ id: 'room', driver: 'simulated', poll_interval: 100, qos: 1, points: [{ name: 'temperature', kind: 'random_walk', start: 20, unit: '°C' }] }),
    device({
      id: 'plc',
      driver: 'modbus-tcp',
      host: '127.0.0.1',
      port: mbPort,
      poll_interval: 100,
      timeout: 500,
      points: [
        { name: 'sp', address: 0, type: 'int16', scale: 0.1, writable: true, min: 0, max: 50 },
        { name: 'pump', table: 'coil', address: 0, writable: true },
      ],
    }),
  ]
  const host = createDriverHost({ devices, gatewayId: 'test-gw', broker: tb.broker, logger: silentLogger })
  await host.start()
  closers.push(() => host.stop())
  return { tb, host, bank }
}

describe('DriverHost on the real broker', { timeout: 30_000 }, () => {
  test('an MQTT.js subscriber receives readings, and a v5 command gets its result on the response topic with the correlation data', async () => {
    const { tb, bank } = await setup()
    const { client, got } = await connectCollect(tb.port, { protocolVersion: 5, clientId: 'app' })
    closers.push(() => endClient(client, true))
    await client.subscribeAsync(['fieldgate/test-gw/#', 'app/replies'], { qos: 1 })
    await waitFor(() => got.some((m) => m.topic === 'fieldgate/test-gw/plc/sp') && got.some((m) => m.topic === 'fieldgate/test-gw/room/temperature'), 5000, 10, 'readings')
    const sp = JSON.parse(got.find((m) => m.topic === 'fieldgate/test-gw/plc/sp')?.payload ?? '{}') as Record<string, unknown>
    assert.deepEqual([sp.v, sp.q], [21.5, 'good'])
    assert.equal(got.find((m) => m.topic === 'fieldgate/test-gw/room/temperature')?.packet.qos, 1)

    await client.publishAsync('fieldgate/test-gw/plc/sp/set', '30', { qos: 1, properties: { responseTopic: 'app/replies', correlationData: Buffer.from('req-1') } })
    await waitFor(() => got.some((m) => m.topic === 'app/replies'), 5000, 10, 'reply')
    const reply = got.find((m) => m.topic === 'app/replies')
    assert.ok(reply)
    assert.deepEqual(reply.packet.properties?.correlationData, Buffer.from('req-1'))
    const body = JSON.parse(reply.payload) as Record<string, unknown>
    assert.deepEqual([body.ok, body.readback], [true, 30])
    assert.equal(bank.get(1, 'holding', 0), 300)
  })

  test('a mosquitto_pub command without a response topic is answered on set/result, and a refused one says why', async () => {
    const { tb, bank } = await setup()
    const { client, got } = await connectCollect(tb.port, { clientId: 'watcher' })
    closers.push(() => endClient(client, true))
    await client.subscribeAsync('fieldgate/test-gw/plc/+/set/result', { qos: 1 })
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-q', '1', '-t', 'fieldgate/test-gw/plc/pump/set', '-m', 'true'], { timeout: 5000 })
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), '-q', '1', '-t', 'fieldgate/test-gw/plc/sp/set', '-m', '99'], { timeout: 5000 })
    await waitFor(() => got.length >= 2, 5000, 10, 'two results')
    const pump = JSON.parse(got.find((m) => m.topic === 'fieldgate/test-gw/plc/pump/set/result')?.payload ?? '{}') as Record<string, unknown>
    const sp = JSON.parse(got.find((m) => m.topic === 'fieldgate/test-gw/plc/sp/set/result')?.payload ?? '{}') as Record<string, unknown>
    assert.deepEqual([pump.ok, pump.readback], [true, true])
    assert.equal(bank.get(1, 'coil', 0), true)
    assert.equal(sp.ok, false)
    assert.equal(sp.code, 'DRIVER_WRITE_REJECTED')
    assert.match(String(sp.error), /above the configured maximum 50/)
    assert.equal(bank.get(1, 'holding', 0), 215)
  })
})

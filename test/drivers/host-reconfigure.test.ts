import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock, silentLogger } from '../../src/core/index.ts'
import { createDriverHost, DriverFactory, type DeviceOptions } from '../../src/drivers/index.ts'
import { device } from './devices.ts'
import { FakeBroker } from './fake-broker.ts'

const sim = (id: string, extra: Record<string, unknown> = {}): DeviceOptions =>
  device({ id, driver: 'simulated', poll_interval: 1000, jitter: 0, seed: 3, ...extra })

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

test('a reload restarts only the device whose config changed; the others keep their driver and their counts', async () => {
  const clock = new FakeClock(1_000_000)
  const broker = new FakeBroker()
  const host = createDriverHost({ devices: [sim('a'), sim('b'), sim('c')], gatewayId: 'gw', broker, logger: silentLogger, clock })
  await host.start()
  clock.advance(0)
  clock.advance(1000)
  await flush()
  const a = host.driver('a')
  const b = host.driver('b')
  const restarted = await host.reconfigure([sim('a'), sim('b', { poll_interval: 500 }), sim('d')])
  assert.deepEqual(restarted, ['b', 'c', 'd'])
  assert.equal(host.driver('a'), a, 'unchanged device keeps running')
  assert.notEqual(host.driver('b'), b, 'changed device was rebuilt')
  assert.equal(host.driver('c'), undefined, 'removed device is gone')
  assert.ok(host.driver('d'), 'added device runs')
  assert.ok(!broker.subscriptions.includes('fieldgate/gw/c/+/set'), 'removed device no longer takes commands')
  assert.ok(broker.subscriptions.includes('fieldgate/gw/d/+/set'))
  clock.advance(0)
  clock.advance(1000)
  await flush()
  // a's counter carried on from before the reload: it was never restarted
  assert.deepEqual(broker.on('fieldgate/gw/a/pulses').map((p) => p.v), [1, 2, 3])
  assert.ok(broker.on('fieldgate/gw/d/pulses').length >= 1)
  await host.stop()
  assert.deepEqual(broker.subscriptions, [])
})

test('devices sharing a Modbus serial line restart together when one of them changes', () => {
  const factory = new DriverFactory({ logger: silentLogger, clock: new FakeClock(0) })
  const rtu = (id: string, unit: number): DeviceOptions =>
    device({ id, driver: 'modbus-rtu', port: '/dev/ttyAMA0', unit_id: unit, points: [{ name: 'p', table: 'holding', address: 0, type: 'uint16' }] })
  const tcp = (id: string): DeviceOptions => device({ id, driver: 'modbus-tcp', host: '127.0.0.1', port: 20502, points: [{ name: 'p', table: 'holding', address: 0, type: 'uint16' }] })
  assert.equal(factory.lineKey(rtu('m1', 1)), factory.lineKey(rtu('m2', 2)))
  assert.notEqual(factory.lineKey(tcp('t1')), factory.lineKey(tcp('t2')), 'TCP devices poll independently')
  assert.equal(factory.lineKey(sim('s')), null)
})

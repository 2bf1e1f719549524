import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FakeClock, silentLogger } from '../../src/core/index.ts'
import { createDriverHost, type DriverEvent, SimulatedDriver } from '../../src/drivers/index.ts'
import { simulatedDevice } from './devices.ts'
import { FakeBroker } from './fake-broker.ts'

const sim = (extra: Record<string, unknown> = {}) => simulatedDevice({ id: 'sim1', driver: 'simulated', poll_interval: 1000, jitter: 0, seed: 7, ...extra })

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

describe('DriverHost with a simulated device', () => {
  test('publishes every point as {v,u,ts,q} on the default topic with the driver origin and measured time', async () => {
    const clock = new FakeClock(1_700_000_000_000)
    const broker = new FakeBroker()
    const host = createDriverHost({ devices: [sim()], gatewayId: 'gw', broker, logger: silentLogger, clock })
    await host.start()
    clock.advance(0)
    await flush()
    const t = broker.on('fieldgate/gw/sim1/temperature')
    assert.equal(t.length, 1)
    assert.equal(t[0]?.u, '°C')
    assert.equal(t[0]?.q, 'good')
    assert.equal(t[0]?.ts, 1_700_000_000_000)
    assert.equal(typeof t[0]?.v, 'number')
    const m = broker.published.find((x) => x.topic === 'fieldgate/gw/sim1/pulses')
    assert.equal(m?.origin, '$driver:sim1')
    assert.equal(m?.qos, 0)
    clock.advance(1000)
    clock.advance(1000)
    await flush()
    assert.deepEqual(
      broker.on('fieldgate/gw/sim1/pulses').map((p) => p.v),
      [1, 2, 3],
    )
    assert.ok(broker.subscriptions.includes('fieldgate/gw/sim1/+/set'))
    await host.stop()
    assert.equal(clock.pending(), 0)
    assert.deepEqual(broker.subscriptions, [])
  })

  test('honours a custom topic, raw payloads, QoS per point and report by exception', async () => {
    const clock = new FakeClock(0)
    const broker = new FakeBroker()
    const dev = sim({
      topic: 'site/{device}/{point}',
      payload: 'raw',
      qos: 1,
      deadband: 1000,
      max_silence: 5000,
      points: [
        { name: 'count', kind: 'counter', step: 1, qos: 2 },
        { name: 'flat', kind: 'setpoint', start: 3 },
      ],
    })
    const host = createDriverHost({ devices: [dev], gatewayId: 'gw', broker, logger: silentLogger, clock })
    await host.start()
    for (let i = 0; i < 6; i++) clock.advance(i === 0 ? 0 : 1000)
    await flush()
    const flat = broker.published.filter((m) => m.topic === 'site/sim1/flat')
    // first value, then silence until max_silence (5 s) forces one more
    assert.deepEqual(
      flat.map((m) => m.payload.toString()),
      ['3', '3'],
    )
    assert.equal(flat[0]?.qos, 1)
    assert.equal(broker.published.find((m) => m.topic === 'site/sim1/count')?.qos, 2)
    await host.stop()
  })

  test('a simulated device pushed into error reports state events and error readings, then recovers', async () => {
    const clock = new FakeClock(0)
    const broker = new FakeBroker()
    const host = createDriverHost({ devices: [sim({ points: [{ name: 'x', kind: 'counter', step: 1 }] })], gatewayId: 'gw', broker, logger: silentLogger, clock })
    const events: DriverEvent[] = []
    host.onEvent((e) => events.push(e))
    await host.start()
    clock.advance(0)
    const drv = host.driver('sim1')
    assert.ok(drv instanceof SimulatedDriver)
    drv.fail('sensor unplugged')
    clock.advance(1000)
    await flush()
    const last = broker.on('fieldgate/gw/sim1/x').at(-1)
    assert.equal(last?.q, 'error')
    assert.equal(last?.err, 'sensor unplugged')
    assert.equal(last?.v, 1)
    assert.ok(events.some((e) => e.type === 'state' && e.state === 'error' && e.reason === 'sensor unplugged'))
    const st = host.status()
    assert.equal(st.health, 'down')
    const d = (st.details.devices as Record<string, Record<string, unknown>>).sim1
    assert.equal(d?.state, 'error')
    assert.equal(d?.errors, 1)
    assert.equal((d?.lastError as { message: string }).message, 'sensor unplugged')
    drv.recover()
    clock.advance(1000)
    await flush()
    assert.equal(broker.on('fieldgate/gw/sim1/x').at(-1)?.q, 'good')
    assert.ok(events.some((e) => e.type === 'state' && e.state === 'running'))
    assert.equal(host.status().health, 'ok')
    await host.stop()
  })

  test('a value that stops updating is republished once as stale with its original time', async () => {
    const clock = new FakeClock(0)
    const broker = new FakeBroker()
    const host = createDriverHost({ devices: [sim({ stale_after: 2500, points: [{ name: 'x', kind: 'counter', step: 1 }] })], gatewayId: 'gw', broker, logger: silentLogger, clock })
    await host.start()
    clock.advance(0)
    const drv = host.driver('sim1') as SimulatedDriver
    drv.fail('frozen')
    await drv.stop()
    clock.advance(5000)
    await flush()
    const x = broker.on('fieldgate/gw/sim1/x')
    assert.deepEqual(
      x.map((p) => [p.q, p.ts]),
      [
        ['good', 0],
        ['stale', 0],
      ],
    )
    await host.stop()
  })

  test('a command writes the setpoint and the result goes to set/result, or to the v5 response topic with correlation data', async () => {
    const clock = new FakeClock(0)
    const broker = new FakeBroker()
    const host = createDriverHost({ devices: [sim()], gatewayId: 'gw', broker, logger: silentLogger, clock })
    await host.start()
    await broker.deliver({ topic: 'fieldgate/gw/sim1/setpoint/set', payload: Buffer.from('22.5'), qos: 1, retain: false })
    const res = broker.on('fieldgate/gw/sim1/setpoint/set/result')
    assert.equal(res.length, 1)
    assert.equal(res[0]?.ok, true)
    assert.equal(res[0]?.readback, 22.5)
    assert.equal(broker.on('fieldgate/gw/sim1/setpoint').at(-1)?.v, 22.5)
    const corr = Buffer.from([1, 2, 3])
    await broker.deliver({
      topic: 'fieldgate/gw/sim1/setpoint/set',
      payload: Buffer.from('{"v": 99}'),
      qos: 1,
      retain: false,
      properties: { responseTopic: 'app/replies/42', correlationData: corr },
    })
    const reply = broker.published.find((m) => m.topic === 'app/replies/42')
    assert.ok(reply)
    assert.deepEqual(reply.properties?.correlationData, corr)
    const body = JSON.parse(reply.payload.toString()) as Record<string, unknown>
    assert.equal(body.ok, false)
    assert.equal(body.code, 'DRIVER_WRITE_REJECTED')
    assert.match(String(body.error), /above the configured maximum 30/)
    await host.stop()
  })

  test('commands to a read-only point, an unknown point or with a non-number are rejected with a clear error', async () => {
    const clock = new FakeClock(0)
    const broker = new FakeBroker()
    const host = createDriverHost({ devices: [sim()], gatewayId: 'gw', broker, logger: silentLogger, clock })
    await host.start()
    const send = (point: string, payload: string) => broker.deliver({ topic: `fieldgate/gw/sim1/${point}/set`, payload: Buffer.from(payload), qos: 0, retain: false })
    await send('temperature', '20')
    await send('nope', '1')
    await send('setpoint', '"warm"')
    await send('setpoint', '')
    const errs = [
      broker.on('fieldgate/gw/sim1/temperature/set/result')[0]?.error,
      broker.on('fieldgate/gw/sim1/nope/set/result')[0]?.error,
      ...broker.on('fieldgate/gw/sim1/setpoint/set/result').map((r) => r.error),
    ]
    assert.match(String(errs[0]), /not writable/)
    assert.match(String(errs[1]), /no such point/)
    assert.match(String(errs[2]), /expects a number/)
    assert.match(String(errs[3]), /no value/)
    await host.stop()
  })
})

import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import { silentLogger } from '../../src/core/index.ts'
import { createDriverHost, type DeviceOptions, type DriverHost } from '../../src/drivers/index.ts'
import { pointWidth } from '../../src/drivers/modbus/codec.ts'
import { planReads } from '../../src/drivers/modbus/planner.ts'
import { connectCollect, endClient, startBroker, type Received, type TestBroker } from '../broker/helpers.ts'
import { startPymodbus, type PymodbusPeer, type UnitData } from '../helpers/pymodbus.ts'
import { waitFor } from '../helpers/tmp.ts'
import { hashPassword } from '../../src/broker/auth/passwords.ts'
import { connectOk, startSecureBroker } from '../broker/security/setup.ts'
import { device } from './devices.ts'

/** Templates (issue 11 item 8) and commissioning register commands, through the broker with MQTT.js, against pymodbus. */

const closers: Array<() => Promise<void>> = []
after(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined)
})

async function setup(units: Record<number, UnitData>, dev: (port: number) => Record<string, unknown>): Promise<{ tb: TestBroker; host: DriverHost; peer: PymodbusPeer }> {
  const peer = await startPymodbus({ mode: 'tcp', units })
  closers.push(() => peer.stop())
  const tb = await startBroker()
  closers.push(() => tb.close())
  const devices: DeviceOptions[] = [device(dev(peer.port))]
  const host = createDriverHost({ devices, gatewayId: 'gw', broker: tb.broker, logger: silentLogger })
  await host.start()
  closers.push(() => host.stop())
  return { tb, host, peer }
}

const body = (m: Received | undefined): Record<string, unknown> => JSON.parse(m?.payload ?? '{}') as Record<string, unknown>

describe('device templates and register commands', { timeout: 60_000 }, () => {
  test('Eastron templates never read more than 40 parameters (80 registers) in one request', () => {
    for (const template of ['eastron-sdm120', 'eastron-sdm630']) {
      // Every float32 parameter of 30001..30240 (120 parameters) on top of the template's own points.
      const points = Array.from({ length: 120 }, (_, i) => ({ name: `p${i}`, table: 'input', address: i * 2, type: 'float32' }))
      const cfg = device({ id: 'm', template, port: '/dev/null', points })
      assert.ok(cfg.driver === 'modbus-rtu')
      assert.equal(cfg.maxRegisters, 80)
      const plan = planReads(
        cfg.points.map((p) => ({ key: p.name, table: p.table, address: p.address, width: pointWidth(p) })),
        { maxRegisters: cfg.maxRegisters, maxBits: cfg.maxBits, maxGap: cfg.maxGap },
      )
      assert.ok(plan.every((r) => r.count <= 80), JSON.stringify(plan.map((r) => r.count)))
    }
  })

  test('the Waveshare relay template publishes state retained: a subscriber that connects later sees every relay and input at once', async () => {
    const { tb, host } = await setup({ 1: { coil: { 0: [true, false, true, false, false, false, false, true] }, discrete: { 0: [false, true, false, false, false, false, false, false] } } }, (port) => ({
      id: 'relay',
      template: 'waveshare-modbus-poe-eth-relay',
      host: '127.0.0.1',
      port,
      poll_interval: 100,
    }))
    let readings = 0
    host.onEvent((e) => {
      if (e.type === 'reading' && e.reading.quality === 'good') readings++
    })
    await waitFor(() => readings >= 16, 10_000, 10, 'first poll published')
    const { client, got } = await connectCollect(tb.port, { clientId: 'late' })
    closers.push(() => endClient(client, true))
    await client.subscribeAsync('fieldgate/gw/relay/+', { qos: 1 })
    await waitFor(() => new Set(got.map((m) => m.topic)).size >= 16, 5000, 10, '16 retained states')
    assert.ok(got.every((m) => m.packet.retain), 'delivered as retained')
    assert.deepEqual(
      [body(got.find((m) => m.topic === 'fieldgate/gw/relay/relay1')).v, body(got.find((m) => m.topic === 'fieldgate/gw/relay/relay2')).v, body(got.find((m) => m.topic === 'fieldgate/gw/relay/input2')).v],
      [true, false, true],
    )
  })

  test('register_commands = true: MQTT.js reads and writes any register on $modbus/read|write, answered on the v5 response topic', async () => {
    const { tb, peer } = await setup({ 1: { holding: { 0: [258, 0x4367, 0x199a, 0, 0, 0] }, coil: { 0: [false] } } }, (port) => ({
      id: 'plc',
      driver: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      poll_interval: 1000,
      register_commands: true,
      points: [{ name: 'x', address: 0 }],
    }))
    const { client, got } = await connectCollect(tb.port, { clientId: 'commissioning', protocolVersion: 5 })
    closers.push(() => endClient(client, true))
    await client.subscribeAsync(['replies/#', 'fieldgate/gw/plc/$modbus/+/result'], { qos: 1 })
    const ask = async (op: string, req: unknown, id: string): Promise<Record<string, unknown>> => {
      await client.publishAsync(`fieldgate/gw/plc/$modbus/${op}`, JSON.stringify(req), { qos: 1, properties: { responseTopic: `replies/${id}`, correlationData: Buffer.from(id) } })
      await waitFor(() => got.some((m) => m.topic === `replies/${id}`), 5000, 10, `reply ${id}`)
      const m = got.find((x) => x.topic === `replies/${id}`)
      assert.deepEqual(m?.packet.properties?.correlationData, Buffer.from(id))
      return body(m)
    }
    const r1 = await ask('read', { table: 'holding', address: 0, count: 3 }, 'r1')
    assert.deepEqual([r1.ok, r1.values], [true, [258, 0x4367, 0x199a]])
    const r2 = await ask('read', { table: 'holding', address: 1, type: 'float32' }, 'r2')
    assert.deepEqual([r2.ok, r2.count, r2.value], [true, 2, 231.1])
    const w1 = await ask('write', { table: 'holding', address: 3, values: [0x1234, 0xabcd] }, 'w1')
    assert.deepEqual([w1.ok, w1.values], [true, [0x1234, 0xabcd]])
    assert.deepEqual(await peer.get(1, 'holding', 3, 2), [0x1234, 0xabcd])
    const w2 = await ask('write', { table: 'holding', address: 5, type: 'int16', value: -2 }, 'w2')
    assert.deepEqual([w2.ok, w2.value], [true, -2])
    const w3 = await ask('write', { table: 'coil', address: 0, values: [true] }, 'w3')
    assert.deepEqual([w3.ok, w3.values], [true, [true]])
    const bad = await ask('write', { table: 'input', address: 0, values: [1] }, 'bad')
    assert.equal(bad.ok, false)
    assert.match(String(bad.error), /read-only/)
    const tooMany = await ask('read', { table: 'holding', address: 0, count: 126 }, 'many')
    assert.match(String(tooMany.error), /count must be an integer 1\.\.125/)
    // Without a response topic the answer goes to <topic>/result, as for point commands.
    await client.publishAsync('fieldgate/gw/plc/$modbus/read', '{"address":0}', { qos: 1 })
    await waitFor(() => got.some((m) => m.topic === 'fieldgate/gw/plc/$modbus/read/result'), 5000, 10, 'result')
    assert.deepEqual(body(got.find((m) => m.topic === 'fieldgate/gw/plc/$modbus/read/result')).values, [258])
  })

  test('register commands are off by default: a write there changes nothing (a point command sent after it is answered, on the same FIFO line)', async () => {
    const { tb, peer } = await setup({ 1: { holding: { 0: [1, 2] } } }, (port) => ({
      id: 'plc',
      driver: 'modbus-tcp',
      host: '127.0.0.1',
      port,
      poll_interval: 1000,
      points: [{ name: 'sp', address: 1, writable: true }],
    }))
    const { client, got } = await connectCollect(tb.port, { clientId: 'intruder' })
    closers.push(() => endClient(client, true))
    await client.subscribeAsync('fieldgate/gw/plc/#', { qos: 1 })
    await client.publishAsync('fieldgate/gw/plc/$modbus/write', JSON.stringify({ table: 'holding', address: 0, values: [999] }), { qos: 1 })
    await client.publishAsync('fieldgate/gw/plc/sp/set', '7', { qos: 1 })
    await waitFor(() => got.some((m) => m.topic === 'fieldgate/gw/plc/sp/set/result'), 5000, 10, 'point command result')
    assert.deepEqual(await peer.get(1, 'holding', 0, 2), [1, 7])
    assert.ok(!got.some((m) => m.topic.includes('$modbus/write/result')))
  })

  test('the broker ACL decides who may use register commands: a denied client gets "not authorized" and nothing is written, the engineer may', async () => {
    const peer = await startPymodbus({ mode: 'tcp', units: { 1: { holding: { 0: [1, 2] } } } })
    closers.push(() => peer.stop())
    const FAST = { ln: 10, r: 8, p: 1 }
    const users = await Promise.all(['engineer', 'app'].map(async (u) => `${u}:${await hashPassword(`${u}-pw`, FAST)}`))
    const acl = ['[[rule]]', 'topic = "fieldgate/#"', 'access = "readwrite"', '', '[[rule]]', 'user = "app"', 'topic = "fieldgate/+/+/$modbus/#"', 'access = "deny"', ''].join('\n')
    const sb = await startSecureBroker({ listeners: [{ protocol: 'mqtt', allow_anonymous: false }], passwords: `${users.join('\n')}\n`, acl })
    closers.push(() => sb.close())
    const host = createDriverHost({
      devices: [device({ id: 'plc', driver: 'modbus-tcp', host: '127.0.0.1', port: peer.port, poll_interval: 1000, register_commands: true, points: [{ name: 'x', address: 0 }] })],
      gatewayId: 'gw',
      broker: sb.broker,
      logger: silentLogger,
    })
    await host.start()
    closers.push(() => host.stop())
    const url = `mqtt://127.0.0.1:${sb.ports[0]}`
    const app = await connectOk(url, { protocolVersion: 5, clientId: 'app', username: 'app', password: 'app-pw' })
    closers.push(() => endClient(app, true))
    const write = JSON.stringify({ table: 'holding', address: 0, values: [666] })
    await assert.rejects(app.publishAsync('fieldgate/gw/plc/$modbus/write', write, { qos: 1 }), /[Nn]ot authorized|135/)
    const eng = await connectOk(url, { protocolVersion: 5, clientId: 'eng', username: 'engineer', password: 'engineer-pw' })
    closers.push(() => endClient(eng, true))
    const got: Received[] = []
    eng.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), packet }))
    await eng.subscribeAsync('fieldgate/gw/plc/$modbus/+/result', { qos: 1 })
    await eng.publishAsync('fieldgate/gw/plc/$modbus/write', JSON.stringify({ table: 'holding', address: 1, values: [7] }), { qos: 1 })
    await waitFor(() => got.length > 0, 5000, 10, 'engineer write result')
    assert.deepEqual([body(got[0]).ok, body(got[0]).values], [true, [7]])
    assert.deepEqual(await peer.get(1, 'holding', 0, 2), [1, 7])
  })
})

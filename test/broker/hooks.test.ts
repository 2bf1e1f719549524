import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { MemoryRetainedStore, MemorySessionStore, type BrokerHooks } from '../../src/broker/index.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, connectCollect, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'

/** Hooks a test can steer: users, topic rules and a publish admission function. */
let admit: (bytes: number) => number = () => 0
const hooks: BrokerHooks = {
  async authenticate(req) {
    if (req.username === 'nobody') return { ok: false, reasonCode: 0x87, reason: 'not allowed here' }
    if (req.username !== undefined && req.password?.toString() !== 'secret') return { ok: false, reasonCode: 0x86, reason: 'bad password' }
    return { ok: true, ...(req.username === undefined ? {} : { username: req.username }) }
  },
  authorizePublish: (_who, topic) => !topic.startsWith('denied/'),
  authorizeSubscribe: (_who, filter) => !filter.startsWith('secret/'),
  authorizeDelivery: (who, topic) => !(topic === 'hidden/t' && who.username === 'alice'),
  admitPublish: (_who, bytes) => admit(bytes),
}

let tb: TestBroker
before(async () => {
  tb = await startBroker({ hooks })
})
after(async () => {
  await tb.close()
})

for (const protocolVersion of [4, 5] as const) {
  const bad = protocolVersion === 5 ? 0x86 : 4
  const notAuth = protocolVersion === 5 ? 0x87 : 5
  test(`v${protocolVersion}: a wrong password gets ${bad === 4 ? 'return code 4' : 'reason code 0x86'} and a refused user ${notAuth === 5 ? 'return code 5' : '0x87'}`, { timeout: 10_000 }, async () => {
    await assert.rejects(connectClient(tb.port, { protocolVersion, username: 'alice', password: 'wrong' }), (err: Error & { code?: number }) => err.code === bad)
    await assert.rejects(connectClient(tb.port, { protocolVersion, username: 'nobody', password: 'secret' }), (err: Error & { code?: number }) => err.code === notAuth)
    const ok = await connectClient(tb.port, { protocolVersion, username: 'alice', password: 'secret' })
    await endClient(ok)
  })

  test(`v${protocolVersion}: a denied subscription gets ${protocolVersion === 5 ? '0x87' : '0x80'} in SUBACK`, { timeout: 10_000 }, async () => {
    const c = await connectClient(tb.port, { protocolVersion })
    let granted: unknown
    c.on('packetreceive', (p) => {
      if (p.cmd === 'suback') granted = p.granted
    })
    await c.subscribeAsync({ 'secret/x': { qos: 1 }, 'open/x': { qos: 1 } }).catch(() => undefined)
    await waitFor(() => granted !== undefined, 3000, 10, 'SUBACK')
    assert.deepEqual(granted, [protocolVersion === 5 ? 0x87 : 0x80, 1])
    await endClient(c)
  })
}

test('v5: a denied QoS 1 publish gets PUBACK 0x87 and is not delivered', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(watcher)
  await watcher.subscribeAsync('denied/#')
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  let code: number | undefined
  c.on('packetreceive', (p) => {
    if (p.cmd === 'puback') code = p.reasonCode
  })
  await c.publishAsync('denied/t', 'x', { qos: 1 }).catch(() => undefined)
  await waitFor(() => code !== undefined, 3000, 10, 'PUBACK')
  assert.equal(code, 0x87)
  await sleep(50)
  assert.equal(got.length, 0)
  await Promise.all([endClient(c), endClient(watcher)])
})

test('v3.1.1: a denied publish is acknowledged and dropped', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(watcher)
  await watcher.subscribeAsync('denied/#')
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  await c.publishAsync('denied/t', 'x', { qos: 1 })
  await sleep(50)
  assert.equal(got.length, 0)
  assert.equal(c.connected, true)
  await Promise.all([endClient(c), endClient(watcher)])
})

test('delivery authorisation hides a topic from one user only', { timeout: 10_000 }, async () => {
  const alice = await connectClient(tb.port, { protocolVersion: 4, username: 'alice', password: 'secret' })
  const bob = await connectClient(tb.port, { protocolVersion: 4, username: 'bob', password: 'secret' })
  const gotA = collect(alice)
  const gotB = collect(bob)
  await alice.subscribeAsync('hidden/#')
  await bob.subscribeAsync('hidden/#')
  await tb.broker.publish({ topic: 'hidden/t', payload: Buffer.from('x'), qos: 0, retain: false })
  await waitFor(() => gotB.length === 1, 3000, 10, 'bob gets it')
  await sleep(50)
  assert.equal(gotA.length, 0)
  await Promise.all([endClient(alice), endClient(bob)])
})

test('admitPublish pauses reading but delivers, and a negative answer disconnects a v5 client with 0x96', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(c)
  await c.subscribeAsync('rate/t', { qos: 1 })
  admit = () => 300
  const t0 = Date.now()
  await c.publishAsync('rate/t', '1', { qos: 1 })
  await c.publishAsync('rate/t', '2', { qos: 1 })
  assert.ok(Date.now() - t0 >= 250, 'second publish waited for the pause')
  await waitFor(() => got.length === 2, 3000, 10, 'both delivered')
  admit = () => -1
  let reason: number | undefined
  c.on('disconnect', (p) => (reason = p.reasonCode))
  c.publish('rate/t', '3', { qos: 0 })
  await waitFor(() => reason !== undefined, 3000, 10, 'DISCONNECT')
  assert.equal(reason, 0x96)
  admit = () => 0
  await endClient(c, true)
})

test('messages queued for a restored session are checked against delivery rules when it reconnects', { timeout: 15_000 }, async () => {
  const sessions = new MemorySessionStore()
  const retained = new MemoryRetainedStore()
  const opts = { protocolVersion: 4 as const, clientId: 'alice-restored', clean: false, username: 'alice', password: 'secret' }
  const one = await startBroker({ hooks, sessions, retained })
  const a = await connectClient(one.port, opts)
  await a.subscribeAsync('hidden/#', { qos: 1 })
  await endClient(a)
  await one.close()
  const two = await startBroker({ hooks, sessions, retained })
  await two.broker.publish({ topic: 'hidden/t', payload: Buffer.from('secret'), qos: 1, retain: false })
  await two.broker.publish({ topic: 'hidden/ok', payload: Buffer.from('fine'), qos: 1, retain: false })
  const { client, got } = await connectCollect(two.port, opts)
  await waitFor(() => got.length >= 1, 3000, 10, 'allowed message')
  await sleep(100)
  assert.deepEqual(
    got.map((g) => g.topic),
    ['hidden/ok'],
  )
  await endClient(client)
  await two.close()
})

test('a QoS 2 publish refused by admission is routed when the client resends it after reconnecting', { timeout: 10_000 }, async () => {
  const got: string[] = []
  const off = tb.broker.subscribe('adm/q2', (m) => void got.push(m.payload.toString()))
  const id = Buffer.from('adm-q2')
  const conn = Buffer.concat([Buffer.from([0x10, 12 + id.length, 0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0, 0, 60, 0, id.length]), id])
  const pub = (dup: boolean): Buffer => Buffer.concat([Buffer.from([0x34 | (dup ? 8 : 0), 13, 0, 6]), Buffer.from('adm/q2'), Buffer.from([0, 5]), Buffer.from('hey')])
  admit = () => -1
  const a = await rawSocket(tb.port)
  a.socket.write(conn)
  await waitFor(() => a.data().length >= 4, 3000, 10, 'CONNACK')
  a.socket.write(pub(false))
  await a.closed
  admit = () => 0
  const b = await rawSocket(tb.port)
  b.socket.write(conn)
  b.socket.write(pub(true))
  await waitFor(() => b.data().length >= 8, 3000, 10, 'PUBREC')
  assert.deepEqual(got, ['hey'])
  b.socket.destroy()
  off()
})

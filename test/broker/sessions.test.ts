import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { MemoryRetainedStore, MemorySessionStore } from '../../src/broker/index.ts'
import { silentLogger, type Logger } from '../../src/core/logger.ts'
import type { Message } from '../../src/core/types.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, connectCollect, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker()
})
after(async () => {
  await tb.close()
})

for (const protocolVersion of [4, 5] as const) {
  const persistent = protocolVersion === 5 ? { clean: false, properties: { sessionExpiryInterval: 300 } } : { clean: false }

  test(`v${protocolVersion}: a second connection with the same client id takes the session over`, { timeout: 10_000 }, async () => {
    const clientId = `takeover-${protocolVersion}`
    const first = await connectClient(tb.port, { protocolVersion, clientId })
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()))
    const second = await connectClient(tb.port, { protocolVersion, clientId })
    await closed
    assert.equal(second.connected, true)
    await endClient(first, true)
    await endClient(second)
  })

  test(`v${protocolVersion}: a persistent session keeps its subscriptions and queues QoS 1 messages while offline`, { timeout: 10_000 }, async () => {
    const clientId = `persist-${protocolVersion}`
    const a = await connectClient(tb.port, { protocolVersion, clientId, ...persistent })
    await a.subscribeAsync(`persist/${protocolVersion}`, { qos: 1 })
    await endClient(a)
    const pub = await connectClient(tb.port, { protocolVersion })
    for (let i = 0; i < 5; i++) await pub.publishAsync(`persist/${protocolVersion}`, `m${i}`, { qos: 1 })
    await pub.publishAsync(`persist/${protocolVersion}`, 'qos0 is not queued', { qos: 0 })
    const { client: b, got } = await connectCollect(tb.port, { protocolVersion, clientId, ...persistent })
    await waitFor(() => got.length === 5, 5000, 10, 'queued messages')
    await sleep(100)
    assert.deepEqual(
      got.map((g) => g.payload),
      ['m0', 'm1', 'm2', 'm3', 'm4'],
    )
    await endClient(b)
    await endClient(pub)
  })

  test(`v${protocolVersion}: a clean session discards what the previous session had`, { timeout: 10_000 }, async () => {
    const clientId = `clean-${protocolVersion}`
    const a = await connectClient(tb.port, { protocolVersion, clientId, ...persistent })
    await a.subscribeAsync(`clean/${protocolVersion}`, { qos: 1 })
    await endClient(a)
    const b = await connectClient(tb.port, { protocolVersion, clientId, clean: true })
    const got = collect(b)
    const pub = await connectClient(tb.port, { protocolVersion })
    await pub.publishAsync(`clean/${protocolVersion}`, 'x', { qos: 1 })
    await sleep(150)
    assert.equal(got.length, 0)
    await endClient(b)
    await endClient(pub)
  })
}

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: CONNACK reports session present only for a resumed persistent session`, { timeout: 10_000 }, async () => {
    const clientId = `present-${protocolVersion}`
    const opts = { protocolVersion, clientId, clean: false, ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}) }
    const flags: boolean[] = []
    const capture = (c: MqttClient): void => {
      c.once('connect', (p) => flags.push(p.sessionPresent))
    }
    await endClient(await connectClient(tb.port, opts, capture))
    await endClient(await connectClient(tb.port, opts, capture))
    await endClient(await connectClient(tb.port, { ...opts, clean: true }, capture))
    assert.deepEqual(flags, [false, true, false])
  })
}

test('unacknowledged QoS 1 messages are sent again with DUP when the session reconnects', { timeout: 10_000 }, async () => {
  // a raw subscriber that never acknowledges
  const id = Buffer.from('dup-1')
  const connectPkt = (): Buffer => {
    const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 0, 0, 60]), Buffer.from([0, id.length]), id])
    return Buffer.concat([Buffer.from([0x10, body.length]), body])
  }
  const topic = Buffer.from('dup/t')
  const subBody = Buffer.concat([Buffer.from([0, 1, 0, topic.length]), topic, Buffer.from([1])])
  const r1 = await rawSocket(tb.port)
  r1.socket.write(connectPkt())
  r1.socket.write(Buffer.concat([Buffer.from([0x82, subBody.length]), subBody]))
  await waitFor(() => r1.data().length >= 9, 3000, 10, 'CONNACK+SUBACK')
  const pub = await connectClient(tb.port, { protocolVersion: 4 })
  await pub.publishAsync('dup/t', 'again', { qos: 1 })
  await waitFor(() => r1.data().length > 9, 3000, 10, 'PUBLISH')
  const first = r1.data().subarray(9)
  assert.equal(first[0], 0x32) // QoS 1, no DUP
  r1.socket.destroy()
  await r1.closed
  await sleep(50)
  const r2 = await rawSocket(tb.port)
  r2.socket.write(connectPkt())
  await waitFor(() => r2.data().length > 4, 3000, 10, 'redelivery')
  const again = r2.data().subarray(4)
  assert.equal(again[0], 0x3a) // QoS 1 with DUP
  assert.equal(again.subarray(2).includes(Buffer.from('again')), true)
  r2.socket.destroy()
  await endClient(pub)
})

test('a broker restarted on the same stores delivers queued messages and retained messages', { timeout: 15_000 }, async () => {
  const sessions = new MemorySessionStore()
  const retained = new MemoryRetainedStore()
  const one = await startBroker({ sessions, retained })
  const sub = await connectClient(one.port, { protocolVersion: 5, clientId: 'restart-sub', clean: false, properties: { sessionExpiryInterval: 3600 } })
  await sub.subscribeAsync('restart/#', { qos: 1 })
  await endClient(sub)
  const pub = await connectClient(one.port, { protocolVersion: 4 })
  await pub.publishAsync('restart/a', 'queued-1', { qos: 1 })
  await pub.publishAsync('restart/b', 'queued-2', { qos: 1 })
  await pub.publishAsync('restart/keep', 'retained', { qos: 1, retain: true })
  await endClient(pub)
  await one.close()

  const two = await startBroker({ sessions, retained })
  const { client: again, got } = await connectCollect(two.port, { protocolVersion: 5, clientId: 'restart-sub', clean: false, properties: { sessionExpiryInterval: 3600 } })
  await waitFor(() => got.length === 3, 5000, 10, 'queued messages after restart')
  assert.deepEqual(got.map((g) => g.payload).sort(), ['queued-1', 'queued-2', 'retained'].sort())
  const fresh = await connectClient(two.port, { protocolVersion: 4 })
  const got2 = collect(fresh)
  await fresh.subscribeAsync('restart/keep')
  await waitFor(() => got2.length === 1, 5000, 10, 'retained after restart')
  assert.equal(got2[0]?.payload, 'retained')
  await endClient(again)
  await endClient(fresh)
  await two.close()
})

test('a v5 session with expiry 0 ends when the connection does', { timeout: 10_000 }, async () => {
  const a = await connectClient(tb.port, { protocolVersion: 5, clientId: 'exp0', clean: false, properties: { sessionExpiryInterval: 0 } })
  await a.subscribeAsync('exp0/t', { qos: 1 })
  await endClient(a)
  const b = await connectClient(tb.port, { protocolVersion: 5, clientId: 'exp0', clean: false, properties: { sessionExpiryInterval: 0 } })
  const got = collect(b)
  const pub = await connectClient(tb.port, { protocolVersion: 5 })
  await pub.publishAsync('exp0/t', 'x', { qos: 1 })
  await sleep(150)
  assert.equal(got.length, 0)
  await endClient(b)
  await endClient(pub)
})

test('a v5 session expires after its Session Expiry Interval', { timeout: 10_000 }, async () => {
  const a = await connectClient(tb.port, { protocolVersion: 5, clientId: 'exp1', clean: false, properties: { sessionExpiryInterval: 1 } })
  await a.subscribeAsync('exp1/t', { qos: 1 })
  await endClient(a)
  await sleep(1300)
  const b = await connectClient(tb.port, { protocolVersion: 5, clientId: 'exp1', clean: false, properties: { sessionExpiryInterval: 1 } })
  const got = collect(b)
  const pub = await connectClient(tb.port, { protocolVersion: 5 })
  await pub.publishAsync('exp1/t', 'x', { qos: 1 })
  await sleep(150)
  assert.equal(got.length, 0)
  await endClient(b)
  await endClient(pub)
})

test('close() ends connected clients with DISCONNECT 0x8B and resolves', { timeout: 10_000 }, async () => {
  const own = await startBroker()
  const c5 = await connectClient(own.port, { protocolVersion: 5 })
  const c4 = await connectClient(own.port, { protocolVersion: 4 })
  let reason: number | undefined
  c5.on('disconnect', (p) => (reason = p.reasonCode))
  const closed4 = new Promise<void>((resolve) => c4.once('close', () => resolve()))
  await own.close()
  await closed4
  await waitFor(() => reason !== undefined, 3000, 10, 'DISCONNECT')
  assert.equal(reason, 0x8b)
  assert.equal(own.broker.status().health, 'down')
  await Promise.all([endClient(c5, true), endClient(c4, true)])
})

/** A session store whose message writes fail, as on a full or broken disk. */
class FailingAdds extends MemorySessionStore {
  failing = true
  override async addOutgoing(clientId: string, messages: Message[]): Promise<bigint[]> {
    if (this.failing) throw new Error('disk full (test)')
    return super.addOutgoing(clientId, messages)
  }
}

test('a message that cannot be stored for a persistent session is not acknowledged as accepted, and the failure is logged once', { timeout: 15_000 }, async () => {
  const errors: string[] = []
  const record = (obj: Record<string, unknown> | string, msg?: string): void => {
    errors.push(typeof obj === 'string' ? obj : (msg ?? ''))
  }
  const logger: Logger = { ...silentLogger, error: record as Logger['error'], child: () => logger }
  const sessions = new FailingAdds()
  const tb2 = await startBroker({ sessions, logger })
  try {
    const sub = await connectClient(tb2.port, { protocolVersion: 5, clientId: 'unstorable-sub', clean: false, properties: { sessionExpiryInterval: 300 } })
    await sub.subscribeAsync('unstorable/#', { qos: 1 })
    await endClient(sub)
    const pub = await connectClient(tb2.port, { protocolVersion: 5 })
    const codes: number[] = []
    pub.on('packetreceive', (p) => {
      if (p.cmd === 'puback') codes.push(p.reasonCode ?? 0)
    })
    for (let i = 0; i < 20; i++) await pub.publishAsync('unstorable/t', `m${i}`, { qos: 1 }).catch(() => undefined)
    // v5: "unspecified error" [MQTT-3.4.2.1], so the publisher keeps the message
    assert.deepEqual(codes, Array.from({ length: 20 }, () => 0x80))
    assert.equal(errors.filter((e) => e.includes('queue message failed')).length, 1, 'one line, then a count every 10 s')
    // 3.1.1 has no negative PUBACK: the connection is closed so the client keeps the message and resends it
    const old = await connectClient(tb2.port, { protocolVersion: 4 })
    const closed = new Promise<void>((resolve) => old.once('close', () => resolve()))
    old.publish('unstorable/t', 'v4', { qos: 1 })
    await closed
    await endClient(old, true)
    sessions.failing = false
    await pub.publishAsync('unstorable/t', 'stored', { qos: 1 })
    assert.equal(codes.at(-1), 0)
    await endClient(pub)
  } finally {
    await tb2.close()
  }
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MqttBroker } from '../../src/broker/broker.ts'
import type { Connection } from '../../src/broker/connection.ts'
import type { ClientIdentity } from '../../src/broker/hooks.ts'
import { MemorySessionStore } from '../../src/broker/persistence/memory.ts'
import { Session, type SessionLink } from '../../src/broker/session.ts'
import { brokerSchema } from '../../src/config/sections/broker.ts'
import { FakeClock } from '../../src/core/clock.ts'
import { silentLogger } from '../../src/core/logger.ts'
import type { Message, Qos } from '../../src/core/types.ts'
import { brokerSettings } from '../../src/gateway/options/broker.ts'

/** A link that records what the delivery engine asks to send: the QoS state machine without sockets. */
class FakeLink implements SessionLink {
  sent: Array<{ topic: string; qos: Qos; packetId: number; dup: boolean }> = []
  pubrels: number[] = []
  readonly identity: ClientIdentity = { clientId: 'c1', info: { remoteAddress: '127.0.0.1', remotePort: 1, listener: 'x', protocol: 'mqtt', allowAnonymous: true } }
  constructor(readonly inflightMax: number) {}
  sendPublish(m: Message, qos: Qos, _retain: boolean, packetId: number, dup: boolean): boolean {
    this.sent.push({ topic: m.topic, qos, packetId, dup })
    return true
  }
  sendPubrel(packetId: number): void {
    this.pubrels.push(packetId)
  }
  disconnect(): void {}
  v5 = false
  sendAck(): void {}
}

function setup(limits: Record<string, unknown> = {}): { b: MqttBroker; s: Session; store: MemorySessionStore } {
  const store = new MemorySessionStore()
  const b = new MqttBroker({ ...brokerSettings(brokerSchema.parse({ listeners: [], sys_interval: 0, limits })), logger: silentLogger, gatewayId: 't', clock: new FakeClock(1_000_000), sessions: store })
  const s = new Session('c1', 4, 3600)
  s.stored = true
  return { b, s, store }
}

const msg = (i: number, qos: Qos = 1): Message => ({ topic: `t/${i}`, payload: Buffer.from(String(i)), qos, retain: false, receivedAt: 1_000_000 })

test('the in-flight window holds back messages until PUBACKs free it, in order', async () => {
  const { b, s } = setup()
  const link = new FakeLink(2)
  s.link = link
  for (let i = 0; i < 5; i++) b.delivery.deliver(s, msg(i), 1, false, null)
  assert.deepEqual(
    link.sent.map((x) => x.topic),
    ['t/0', 't/1'],
  )
  b.delivery.onPuback(s, link.sent[0]?.packetId ?? 0)
  assert.deepEqual(
    link.sent.map((x) => x.topic),
    ['t/0', 't/1', 't/2'],
  )
  b.delivery.onPuback(s, 9999) // unknown ids are ignored
  assert.equal(s.inflight.size, 2)
  assert.equal(s.queue.length, 2)
})

test('the QoS 2 flow goes PUBLISH → PUBREC → PUBREL → PUBCOMP and survives a reconnect in each state', async () => {
  const { b, s } = setup()
  const link = new FakeLink(10)
  s.link = link
  b.delivery.deliver(s, msg(1, 2), 2, false, null)
  b.delivery.deliver(s, msg(2, 2), 2, false, null)
  const [a, c] = link.sent
  b.delivery.onPubrec(link as unknown as Connection, s, a?.packetId ?? 0, 0)
  assert.deepEqual(link.pubrels, [a?.packetId])
  // connection lost: one message released, one only sent
  s.link = null
  const again = new FakeLink(10)
  s.link = again
  b.delivery.resume(s)
  assert.deepEqual(again.pubrels, [a?.packetId])
  assert.deepEqual(again.sent, [{ topic: 't/2', qos: 2, packetId: c?.packetId, dup: true }])
  b.delivery.onPubcomp(s, a?.packetId ?? 0)
  b.delivery.onPubrec(again as unknown as Connection, s, c?.packetId ?? 0, 0)
  b.delivery.onPubcomp(s, c?.packetId ?? 0)
  assert.equal(s.inflight.size, 0)
})

test('an offline persistent session queues up to max_queued_messages and persists each step', async () => {
  const { b, s, store } = setup({ max_queued_messages: 3 })
  b.persistence.saveSession(s)
  for (let i = 0; i < 5; i++) b.delivery.deliver(s, msg(i), 1, false, null)
  assert.equal(s.queue.length, 3)
  assert.equal(b.stats.limitHits.queued_messages, 2)
  await b.persistence.flush()
  let [loaded] = await store.loadAll()
  assert.deepEqual(
    loaded?.outgoing.map((o) => [o.message.topic, o.state]),
    [
      ['t/0', 'queued'],
      ['t/1', 'queued'],
      ['t/2', 'queued'],
    ],
  )
  const link = new FakeLink(1)
  s.link = link
  b.delivery.resume(s)
  await b.persistence.flush()
  ;[loaded] = await store.loadAll()
  // QoS 1 'sent' is not stored: after a restart the message goes out again under a new id, which a
  // QoS 1 receiver cannot tell from a resend
  assert.deepEqual(
    loaded?.outgoing.map((o) => [o.message.topic, o.state, o.packetId]),
    [
      ['t/0', 'queued', undefined],
      ['t/1', 'queued', undefined],
      ['t/2', 'queued', undefined],
    ],
  )
  b.delivery.onPuback(s, link.sent[0]?.packetId ?? 0)
  await b.persistence.flush()
  ;[loaded] = await store.loadAll()
  assert.equal(loaded?.outgoing.length, 2)
})

test('a QoS 2 message to a persistent session is stored with its packet id at each step until PUBCOMP removes it', async () => {
  const { b, s, store } = setup()
  b.persistence.saveSession(s)
  const link = new FakeLink(10)
  s.link = link
  const durable = b.delivery.deliver(s, msg(1, 2), 2, false, null)
  assert.ok(durable !== undefined, 'the publisher can wait for the message to be stored')
  await durable
  await b.persistence.flush()
  const stored = async (): Promise<unknown[]> => ((await store.loadAll())[0]?.outgoing ?? []).map((o) => [o.message.topic, o.state, o.packetId])
  const pid = link.sent[0]?.packetId ?? 0
  assert.deepEqual(await stored(), [['t/1', 'sent', pid]])
  b.delivery.onPubrec(link as unknown as Connection, s, pid, 0)
  await b.persistence.flush()
  assert.deepEqual(await stored(), [['t/1', 'released', pid]])
  b.delivery.onPubcomp(s, pid)
  await b.persistence.flush()
  assert.deepEqual(await stored(), [])
})

test('steps on a message issued before its add has finished still apply after it, in order', async () => {
  const { b, s, store } = setup()
  b.persistence.saveSession(s)
  const link = new FakeLink(10)
  s.link = link
  // deliver, PUBREC, PUBCOMP all in one tick: the add has not resolved when the update and removal are issued
  void b.delivery.deliver(s, msg(1, 2), 2, false, null)
  void b.delivery.deliver(s, msg(2, 2), 2, false, null)
  const [first, second] = link.sent
  b.delivery.onPubrec(link as unknown as Connection, s, first?.packetId ?? 0, 0)
  b.delivery.onPubcomp(s, first?.packetId ?? 0)
  b.delivery.onPubrec(link as unknown as Connection, s, second?.packetId ?? 0, 0)
  await b.persistence.flush()
  const [loaded] = await store.loadAll()
  assert.deepEqual(
    loaded?.outgoing.map((o) => [o.message.topic, o.state, o.packetId]),
    [['t/2', 'released', second?.packetId]],
  )
})

test('QoS 0 messages are not queued for an offline session', () => {
  const { b, s } = setup()
  b.delivery.deliver(s, msg(1, 0), 0, false, null)
  assert.equal(s.queue.length, 0)
})

test('packet ids skip ids still in flight and wrap after 65535', () => {
  const s = new Session('x', 4, 0)
  const ids = new Set<number>()
  for (let i = 0; i < 65535; i++) ids.add(s.allocPacketId())
  assert.equal(ids.size, 65535)
  assert.equal(ids.has(0), false)
  s.addInflight({ message: msg(1), qos: 1, retain: false, subIds: null, packetId: 1, state: 'sent', storeId: null, storeTail: null, bytes: 1 })
  assert.equal(s.allocPacketId(), 2)
})

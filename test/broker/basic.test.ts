import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker()
})
after(async () => {
  await tb.close()
})

for (const protocolVersion of [4, 5] as const) {
  describe(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5.0'} clients`, () => {
    test('a subscriber receives QoS 0, 1 and 2 messages at the QoS it was granted', { timeout: 10_000 }, async () => {
      const sub = await connectClient(tb.port, { protocolVersion })
      const got = collect(sub)
      const granted = await sub.subscribeAsync(`basic/${protocolVersion}/+`, { qos: 2 })
      assert.equal(granted[0]?.qos, 2)
      const pub = await connectClient(tb.port, { protocolVersion })
      await pub.publishAsync(`basic/${protocolVersion}/q`, 'zero', { qos: 0 })
      await pub.publishAsync(`basic/${protocolVersion}/q`, 'one', { qos: 1 })
      await pub.publishAsync(`basic/${protocolVersion}/q`, 'two', { qos: 2 })
      await waitFor(() => got.length === 3, 5000, 10, 'three messages')
      assert.deepEqual(
        got.map((g) => [g.payload, g.packet.qos]),
        [
          ['zero', 0],
          ['one', 1],
          ['two', 2],
        ],
      )
      await endClient(sub)
      await endClient(pub)
    })

    test('a message is downgraded to the subscription QoS', { timeout: 10_000 }, async () => {
      const sub = await connectClient(tb.port, { protocolVersion })
      const got = collect(sub)
      await sub.subscribeAsync(`down/${protocolVersion}`, { qos: 1 })
      const pub = await connectClient(tb.port, { protocolVersion })
      await pub.publishAsync(`down/${protocolVersion}`, 'two', { qos: 2 })
      await waitFor(() => got.length === 1, 5000, 10, 'message')
      assert.equal(got[0]?.packet.qos, 1)
      await endClient(sub)
      await endClient(pub)
    })

    test('messages from one publisher arrive in the order they were sent', { timeout: 10_000 }, async () => {
      const sub = await connectClient(tb.port, { protocolVersion })
      const got = collect(sub)
      await sub.subscribeAsync(`order/${protocolVersion}`, { qos: 1 })
      const pub = await connectClient(tb.port, { protocolVersion })
      const n = 200
      await Promise.all(Array.from({ length: n }, (_, i) => pub.publishAsync(`order/${protocolVersion}`, String(i), { qos: 1 })))
      await waitFor(() => got.length === n, 5000, 10, `${n} messages`)
      assert.deepEqual(
        got.map((g) => Number(g.payload)),
        Array.from({ length: n }, (_, i) => i),
      )
      await endClient(sub)
      await endClient(pub)
    })

    test('wildcards match as the spec says and overlapping subscriptions deliver once', { timeout: 10_000 }, async () => {
      const p = `wild${protocolVersion}`
      const sub = await connectClient(tb.port, { protocolVersion })
      const got = collect(sub)
      await sub.subscribeAsync({ [`${p}/+/temp`]: { qos: 0 }, [`${p}/#`]: { qos: 1 }, [`${p}/a/temp`]: { qos: 0 } })
      const pub = await connectClient(tb.port, { protocolVersion })
      await pub.publishAsync(`${p}/a/temp`, 'both', { qos: 1 })
      await pub.publishAsync(`${p}`, 'parent', { qos: 1 }) // 'x/#' also matches 'x'
      await pub.publishAsync(`${p}/a/b/c`, 'deep', { qos: 1 })
      await pub.publishAsync(`other/${p}`, 'nope', { qos: 1 })
      await waitFor(() => got.length >= 3, 5000, 10, 'messages')
      await sleep(100)
      assert.deepEqual(
        got.map((g) => [g.topic, g.packet.qos]),
        [
          [`${p}/a/temp`, 1],
          [`${p}`, 1],
          [`${p}/a/b/c`, 1],
        ],
      )
      await endClient(sub)
      await endClient(pub)
    })

    test('topics starting with $ are not matched by filters starting with a wildcard', { timeout: 10_000 }, async () => {
      const sub = await connectClient(tb.port, { protocolVersion })
      const got = collect(sub)
      await sub.subscribeAsync({ '#': { qos: 0 }, '+/dollar': { qos: 0 }, [`$app/dollar${protocolVersion}`]: { qos: 0 } })
      const pub = await connectClient(tb.port, { protocolVersion })
      await pub.publishAsync(`$app/dollar${protocolVersion}`, 'explicit', { qos: 1 })
      await waitFor(() => got.some((g) => g.topic.startsWith('$app')), 5000, 10, 'the $ message')
      await sleep(50)
      assert.equal(got.filter((g) => g.topic.startsWith('$app')).length, 1)
      await endClient(sub)
      await endClient(pub)
    })

    test('a retained message is set, replaced and cleared with an empty payload', { timeout: 10_000 }, async () => {
      const t = `retained/${protocolVersion}`
      const pub = await connectClient(tb.port, { protocolVersion })
      await pub.publishAsync(t, 'first', { qos: 1, retain: true })
      await pub.publishAsync(t, 'second', { qos: 1, retain: true })
      const s1 = await connectClient(tb.port, { protocolVersion })
      const got1 = collect(s1)
      await s1.subscribeAsync(t, { qos: 1 })
      await waitFor(() => got1.length === 1, 5000, 10, 'retained message')
      assert.equal(got1[0]?.payload, 'second')
      assert.equal(got1[0]?.packet.retain, true)
      // a live message to an existing subscriber is not flagged retained [MQTT-3.3.1-9]
      await pub.publishAsync(t, 'third', { qos: 1, retain: true })
      await waitFor(() => got1.length === 2, 5000, 10, 'live message')
      assert.equal(got1[1]?.packet.retain, false)
      await pub.publishAsync(t, '', { qos: 1, retain: true })
      const s2 = await connectClient(tb.port, { protocolVersion })
      const got2 = collect(s2)
      await s2.subscribeAsync(t, { qos: 1 })
      await sleep(150)
      assert.equal(got2.length, 0)
      await Promise.all([endClient(pub), endClient(s1), endClient(s2)])
    })

    test('unsubscribing stops delivery', { timeout: 10_000 }, async () => {
      const sub = await connectClient(tb.port, { protocolVersion })
      const got = collect(sub)
      await sub.subscribeAsync(`unsub/${protocolVersion}`)
      await sub.unsubscribeAsync(`unsub/${protocolVersion}`)
      const pub = await connectClient(tb.port, { protocolVersion })
      await pub.publishAsync(`unsub/${protocolVersion}`, 'x', { qos: 1 })
      await sleep(100)
      assert.equal(got.length, 0)
      await endClient(sub)
      await endClient(pub)
    })
  })
}

test('an MQTT 3.1 (MQIsdp) client is served', { timeout: 10_000 }, async () => {
  const old = await connectClient(tb.port, { protocolVersion: 3, protocolId: 'MQIsdp', clientId: 'legacy-31' })
  const got = collect(old)
  await old.subscribeAsync('legacy/t', { qos: 1 })
  await old.publishAsync('legacy/t', 'from 3.1', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 10, 'echo')
  assert.equal(got[0]?.payload, 'from 3.1')
  await endClient(old)
})

test('a 3.1.1 and a 5.0 client exchange messages', { timeout: 10_000 }, async () => {
  const v4 = await connectClient(tb.port, { protocolVersion: 4 })
  const v5 = await connectClient(tb.port, { protocolVersion: 5 })
  const got4 = collect(v4)
  const got5 = collect(v5)
  await v4.subscribeAsync('mix/to4', { qos: 1 })
  await v5.subscribeAsync('mix/to5', { qos: 1 })
  await v5.publishAsync('mix/to4', 'from5', { qos: 1, properties: { userProperties: { a: 'b' } } })
  await v4.publishAsync('mix/to5', 'from4', { qos: 1 })
  await waitFor(() => got4.length === 1 && got5.length === 1, 5000, 10, 'both messages')
  assert.equal(got4[0]?.payload, 'from5')
  assert.equal(got5[0]?.payload, 'from4')
  await endClient(v4)
  await endClient(v5)
})

test('status counts clients, subscriptions, retained messages and traffic', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  await c.subscribeAsync('status/a')
  await c.publishAsync('status/r', 'x', { retain: true, qos: 1 })
  const d = tb.broker.status().details as { clients: { connected: number }; subscriptions: number; retained: number; messages: { in: number } }
  assert.ok(d.clients.connected >= 1)
  assert.ok(d.subscriptions >= 1)
  assert.ok(d.retained >= 1)
  assert.ok(d.messages.in >= 1)
  await endClient(c)
})

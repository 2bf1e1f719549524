import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker({ limits: { max_packet_size: 2048 } })
})
after(async () => {
  await tb.close()
})

const v5 = { protocolVersion: 5 as const }

test('No Local keeps a client from receiving its own messages', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('nl/t', { qos: 1, nl: true })
  const other = await connectClient(tb.port, v5)
  await c.publishAsync('nl/t', 'mine', { qos: 1 })
  await other.publishAsync('nl/t', 'theirs', { qos: 1 })
  await waitFor(() => got.length >= 1, 5000, 10, 'message')
  await sleep(100)
  assert.deepEqual(
    got.map((g) => g.payload),
    ['theirs'],
  )
  await Promise.all([endClient(c), endClient(other)])
})

test('Retain As Published keeps the retain flag on live delivery', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('rap/a', { qos: 1, rap: true })
  await c.subscribeAsync('rap/b', { qos: 1, rap: false })
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('rap/a', 'a', { qos: 1, retain: true })
  await p.publishAsync('rap/b', 'b', { qos: 1, retain: true })
  await waitFor(() => got.length === 2, 5000, 10, 'messages')
  assert.equal(got.find((g) => g.topic === 'rap/a')?.packet.retain, true)
  assert.equal(got.find((g) => g.topic === 'rap/b')?.packet.retain, false)
  await Promise.all([endClient(c), endClient(p)])
})

test('Retain Handling 1 sends retained messages only for a new subscription and 2 never', { timeout: 10_000 }, async () => {
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('rh/x', 'kept', { qos: 1, retain: true })
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('rh/x', { qos: 1, rh: 1 })
  await c.subscribeAsync('rh/x', { qos: 1, rh: 1 })
  await c.subscribeAsync('rh/+', { qos: 1, rh: 2 })
  await sleep(200)
  assert.equal(got.length, 1)
  await Promise.all([endClient(c), endClient(p)])
})

test('subscription identifiers come back on matching messages, all of them for overlaps', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('sid/+', { qos: 1, properties: { subscriptionIdentifier: 7 } })
  await c.subscribeAsync('sid/#', { qos: 1, properties: { subscriptionIdentifier: 9 } })
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('sid/a', 'x', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 10, 'message')
  await sleep(100)
  assert.equal(got.length, 1)
  const ids = got[0]?.packet.properties?.subscriptionIdentifier
  assert.deepEqual([ids].flat().sort(), [7, 9])
  await Promise.all([endClient(c), endClient(p)])
})

test('user properties, content type, response topic and correlation data pass through', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('props/t', { qos: 1 })
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('props/t', 'x', {
    qos: 1,
    properties: { userProperties: { site: 'north', tag: ['a', 'b'] }, contentType: 'text/plain', responseTopic: 'props/reply', correlationData: Buffer.from('c1'), payloadFormatIndicator: true },
  })
  await waitFor(() => got.length === 1, 5000, 10, 'message')
  const props = got[0]?.packet.properties
  assert.deepEqual({ ...props?.userProperties }, { site: 'north', tag: ['a', 'b'] })
  assert.equal(props?.contentType, 'text/plain')
  assert.equal(props?.responseTopic, 'props/reply')
  assert.equal(props?.correlationData?.toString(), 'c1')
  assert.equal(props?.payloadFormatIndicator, true)
  await Promise.all([endClient(c), endClient(p)])
})

test('a retained message past its Message Expiry Interval is not delivered', { timeout: 10_000 }, async () => {
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('expiry/short', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
  await p.publishAsync('expiry/long', 'long', { qos: 1, retain: true, properties: { messageExpiryInterval: 100 } })
  await sleep(1100)
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('expiry/+', { qos: 1 })
  await waitFor(() => got.length >= 1, 5000, 10, 'message')
  await sleep(100)
  assert.deepEqual(
    got.map((g) => g.payload),
    ['long'],
  )
  const left = got[0]?.packet.properties?.messageExpiryInterval ?? 0
  assert.ok(left <= 99 && left >= 90, `remaining expiry ${left}`)
  await Promise.all([endClient(c), endClient(p)])
})

test('topic aliases from the client are resolved', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, v5)
  const got = collect(c)
  await c.subscribeAsync('alias/in', { qos: 1 })
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('alias/in', 'first', { qos: 1, properties: { topicAlias: 3 } })
  await p.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 3 } })
  await waitFor(() => got.length === 2, 5000, 10, 'messages')
  assert.deepEqual(
    got.map((g) => [g.topic, g.payload]),
    [
      ['alias/in', 'first'],
      ['alias/in', 'second'],
    ],
  )
  await Promise.all([endClient(c), endClient(p)])
})

test('the broker uses topic aliases towards a client that allows them', { timeout: 10_000 }, async () => {
  const aliases: Array<number | undefined> = []
  const c = await connectClient(tb.port, { ...v5, properties: { topicAliasMaximum: 5 } })
  c.on('packetreceive', (pk) => {
    if (pk.cmd === 'publish') aliases.push(pk.properties?.topicAlias)
  })
  const got = collect(c)
  await c.subscribeAsync('alias/out', { qos: 0 })
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('alias/out', '1', { qos: 1 })
  await p.publishAsync('alias/out', '2', { qos: 1 })
  await waitFor(() => got.length === 2, 5000, 10, 'messages')
  assert.deepEqual(
    got.map((g) => g.topic),
    ['alias/out', 'alias/out'],
  )
  assert.equal(aliases.length, 2)
  assert.equal(typeof aliases[0], 'number')
  assert.equal(aliases[1], aliases[0])
  await Promise.all([endClient(c), endClient(p)])
})

test('a message larger than the client Maximum Packet Size is not sent to it', { timeout: 10_000 }, async () => {
  const small = await connectClient(tb.port, { ...v5, properties: { maximumPacketSize: 200 } })
  const got = collect(small)
  await small.subscribeAsync('mps/t', { qos: 1 })
  const p = await connectClient(tb.port, v5)
  await p.publishAsync('mps/t', Buffer.alloc(500, 1), { qos: 1 })
  await p.publishAsync('mps/t', 'small', { qos: 1 })
  await waitFor(() => got.length >= 1, 5000, 10, 'small message')
  await sleep(100)
  assert.deepEqual(
    got.map((g) => g.payload),
    ['small'],
  )
  await Promise.all([endClient(small), endClient(p)])
})

test('a packet over the server Maximum Packet Size closes the connection with 0x95', { timeout: 10_000 }, async () => {
  let reason: number | undefined
  const c = await connectClient(tb.port, v5)
  assert.equal(c.options.properties?.maximumPacketSize, undefined)
  c.on('disconnect', (pk) => (reason = pk.reasonCode))
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  c.publish('mps/big', Buffer.alloc(4096, 2), { qos: 0 })
  await closed
  assert.equal(reason, 0x95)
  await endClient(c, true)
})

test('CONNACK advertises the server limits', { timeout: 10_000 }, async () => {
  let props: Record<string, unknown> | undefined
  const c = await connectClient(tb.port, v5, (cl) => cl.once('connect', (ack) => (props = ack.properties)))
  assert.equal(props?.maximumPacketSize, 2048)
  assert.equal(props?.receiveMaximum, 64)
  assert.equal(props?.sharedSubscriptionAvailable, true)
  await endClient(c)
})

test('an empty client id gets an assigned one', { timeout: 10_000 }, async () => {
  let assigned: unknown
  const c = await connectClient(tb.port, { ...v5, clientId: '' }, (cl) => cl.once('connect', (ack) => (assigned = ack.properties?.assignedClientIdentifier)))
  assert.equal(typeof assigned, 'string')
  assert.ok(String(assigned).length > 0)
  await endClient(c)
})

test('disconnectWhere sends DISCONNECT with the reason code to matching clients', { timeout: 10_000 }, async () => {
  let reason: number | undefined
  const c = await connectClient(tb.port, { ...v5, clientId: 'kick-me' })
  c.on('disconnect', (pk) => (reason = pk.reasonCode))
  const keep = await connectClient(tb.port, { ...v5, clientId: 'keep-me' })
  const n = tb.broker.disconnectWhere((who) => who.clientId === 'kick-me', 0x98, 'administrative action')
  assert.equal(n, 1)
  await waitFor(() => reason !== undefined, 5000, 10, 'DISCONNECT')
  assert.equal(reason, 0x98)
  assert.equal(keep.connected, true)
  await Promise.all([endClient(c, true), endClient(keep)])
})

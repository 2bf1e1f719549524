import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { FieldgateError } from '../../src/core/errors.ts'
import type { Message } from '../../src/core/types.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker()
})
after(async () => {
  await tb.close()
})

test('an in-process subscriber receives client messages with origin and receive time', { timeout: 10_000 }, async () => {
  const got: Message[] = []
  const off = tb.broker.subscribe('ip/+/value', (m) => {
    got.push(m)
  })
  const c = await connectClient(tb.port, { protocolVersion: 4, clientId: 'ip-sensor' })
  const before = Date.now()
  await c.publishAsync('ip/s1/value', '21.5', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 10, 'message')
  assert.equal(got[0]?.origin, 'ip-sensor')
  assert.equal(got[0]?.payload.toString(), '21.5')
  assert.ok((got[0]?.receivedAt ?? 0) >= before)
  off()
  await c.publishAsync('ip/s1/value', '22', { qos: 1 })
  await sleep(50)
  assert.equal(got.length, 1, 'nothing after unsubscribe')
  await endClient(c)
})

test('an in-process publish reaches clients with its QoS and retain flag', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(c)
  await c.subscribeAsync('ip/cmd/#', { qos: 2 })
  await tb.broker.publish({ topic: 'ip/cmd/a', payload: Buffer.from('go'), qos: 1, retain: false, origin: '$driver' })
  await tb.broker.publish({ topic: 'ip/cmd/r', payload: Buffer.from('kept'), qos: 0, retain: true, origin: '$driver' })
  await waitFor(() => got.length === 2, 5000, 10, 'messages')
  assert.equal(got[0]?.packet.qos, 1)
  const late = await connectClient(tb.port, { protocolVersion: 4 })
  const got2 = collect(late)
  await late.subscribeAsync('ip/cmd/r')
  await waitFor(() => got2.length === 1, 5000, 10, 'retained')
  assert.equal(got2[0]?.packet.retain, true)
  await Promise.all([endClient(c), endClient(late)])
})

test('noLocalOrigin keeps an in-process subscriber from receiving its own publishes', { timeout: 10_000 }, async () => {
  const got: string[] = []
  const off = tb.broker.subscribe('ip/loop', (m) => void got.push(m.payload.toString()), { noLocalOrigin: '$bridge:cloud' })
  await tb.broker.publish({ topic: 'ip/loop', payload: Buffer.from('own'), qos: 0, retain: false, origin: '$bridge:cloud' })
  await tb.broker.publish({ topic: 'ip/loop', payload: Buffer.from('other'), qos: 0, retain: false, origin: '$driver' })
  assert.deepEqual(got, ['other'])
  off()
})

test('the in-process QoS option caps the delivered QoS', { timeout: 10_000 }, async () => {
  const qos: number[] = []
  const off = tb.broker.subscribe('ip/qos', (m) => void qos.push(m.qos), { qos: 1 })
  await tb.broker.publish({ topic: 'ip/qos', payload: Buffer.from('x'), qos: 2, retain: false })
  assert.deepEqual(qos, [1])
  off()
})

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: PUBACK waits for an in-process subscriber's promise`, { timeout: 10_000 }, async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    const off = tb.broker.subscribe(`ip/wait/${protocolVersion}`, () => gate)
    const c = await connectClient(tb.port, { protocolVersion })
    let acked = false
    const done = c.publishAsync(`ip/wait/${protocolVersion}`, 'x', { qos: 1 }).then(() => (acked = true))
    await sleep(200)
    assert.equal(acked, false, 'no PUBACK before the handler resolved')
    release()
    await done
    assert.equal(acked, true)
    off()
    await endClient(c)
  })

  test(`v${protocolVersion}: PUBREC waits for an in-process subscriber's promise`, { timeout: 10_000 }, async () => {
    let release: () => void = () => undefined
    const gate = new Promise<void>((r) => (release = r))
    const off = tb.broker.subscribe(`ip/wait2/${protocolVersion}`, () => gate)
    const c = await connectClient(tb.port, { protocolVersion })
    let recs = 0
    c.on('packetreceive', (p) => {
      if (p.cmd === 'pubrec') recs++
    })
    const done = c.publishAsync(`ip/wait2/${protocolVersion}`, 'x', { qos: 2 })
    await sleep(200)
    assert.equal(recs, 0)
    release()
    await done
    assert.equal(recs, 1)
    off()
    await endClient(c)
  })
}

test('acknowledgements keep publish order even when an earlier one waits longer', { timeout: 10_000 }, async () => {
  const delays = [150, 10, 80, 0, 30]
  let i = 0
  const handled: string[] = []
  const off = tb.broker.subscribe('ip/order', async (m) => {
    const d = delays[i++ % delays.length] as number
    handled.push(m.payload.toString())
    await new Promise((r) => setTimeout(r, d))
  })
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  const acks: number[] = []
  c.on('packetreceive', (p) => {
    if (p.cmd === 'puback' && p.messageId !== undefined) acks.push(p.messageId)
  })
  const sent: number[] = []
  c.on('packetsend', (p) => {
    if (p.cmd === 'publish' && p.messageId !== undefined) sent.push(p.messageId)
  })
  await Promise.all(delays.map((_, k) => c.publishAsync('ip/order', String(k), { qos: 1 })))
  assert.deepEqual(handled, ['0', '1', '2', '3', '4'])
  assert.deepEqual(acks, sent)
  off()
  await endClient(c)
})

test('v5: a rejected in-process subscriber gives 0x97 for QUEUE_FULL and 0x80 otherwise', { timeout: 10_000 }, async () => {
  const off1 = tb.broker.subscribe('ip/full', () => Promise.reject(new FieldgateError('QUEUE_FULL', 'queue at budget')))
  const off2 = tb.broker.subscribe('ip/broken', () => Promise.reject(new Error('disk gone')))
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  const codes: Record<number, number | undefined> = {}
  c.on('packetreceive', (p) => {
    if ((p.cmd === 'puback' || p.cmd === 'pubrec') && p.messageId !== undefined) codes[p.messageId] = p.reasonCode ?? 0
  })
  const results = await Promise.allSettled([c.publishAsync('ip/full', 'x', { qos: 1 }), c.publishAsync('ip/broken', 'x', { qos: 1 }), c.publishAsync('ip/full', 'x', { qos: 2 })])
  assert.equal(results.length, 3)
  await waitFor(() => Object.keys(codes).length === 3, 5000, 10, 'three acknowledgements')
  assert.deepEqual(Object.values(codes).sort(), [0x80, 0x97, 0x97])
  assert.equal(c.connected, true)
  off1()
  off2()
  await endClient(c)
})

test('v3.1.1: a rejected in-process subscriber disconnects the publisher so it retries', { timeout: 10_000 }, async () => {
  const off = tb.broker.subscribe('ip/reject4', () => Promise.reject(new FieldgateError('QUEUE_FULL', 'queue at budget')))
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  let puback = false
  c.on('packetreceive', (p) => {
    if (p.cmd === 'puback') puback = true
  })
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()))
  c.publish('ip/reject4', 'x', { qos: 1 })
  await closed
  assert.equal(puback, false)
  off()
  await endClient(c, true)
})

test('a throwing in-process handler does not stop delivery to others', { timeout: 10_000 }, async () => {
  const got: string[] = []
  const off1 = tb.broker.subscribe('ip/iso', () => {
    throw new Error('bug in a driver')
  })
  const off2 = tb.broker.subscribe('ip/iso', (m) => void got.push(m.payload.toString()))
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  const got2 = collect(c)
  await c.subscribeAsync('ip/iso')
  await tb.broker.publish({ topic: 'ip/iso', payload: Buffer.from('a'), qos: 0, retain: false })
  await waitFor(() => got2.length === 1, 5000, 10, 'client delivery')
  assert.deepEqual(got, ['a'])
  off1()
  off2()
  await endClient(c)
})

test('in-process publish to an invalid topic is refused with a coded error', { timeout: 5_000 }, async () => {
  await assert.rejects(tb.broker.publish({ topic: 'a/+/b', payload: Buffer.alloc(0), qos: 0, retain: false }), (err: unknown) => err instanceof FieldgateError && err.code === 'BROKER_PROTOCOL')
  assert.throws(() => tb.broker.subscribe('a/#/b', () => undefined), (err: unknown) => err instanceof FieldgateError && err.code === 'BROKER_PROTOCOL')
})

test('an in-process subscriber may ask for retained messages', { timeout: 5_000 }, async () => {
  await tb.broker.publish({ topic: 'ip/ret/a', payload: Buffer.from('r'), qos: 1, retain: true })
  const with_: string[] = []
  const without: string[] = []
  const off1 = tb.broker.subscribe('ip/ret/#', (m) => void with_.push(m.topic), { retained: true })
  const off2 = tb.broker.subscribe('ip/ret/#', (m) => void without.push(m.topic))
  assert.deepEqual(with_, ['ip/ret/a'])
  assert.deepEqual(without, [])
  off1()
  off2()
})

test('an in-process handler that publishes from inside its callback does not disturb the outer delivery', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(c)
  await c.subscribeAsync({ 'nest/in': { qos: 1 }, 'nest/out': { qos: 1 }, 'nest/#': { qos: 1 } })
  // subscribed after the client, so the router meets it after the client's subscriptions
  const off = tb.broker.subscribe('nest/in', (m) => {
    void tb.broker.publish({ topic: 'nest/out', payload: m.payload, qos: 1, retain: false, origin: '$driver' })
  })
  await tb.broker.publish({ topic: 'nest/in', payload: Buffer.from('x'), qos: 1, retain: false })
  await waitFor(() => got.length >= 2, 5000, 10, 'both messages')
  await sleep(100)
  assert.deepEqual(got.map((g) => g.topic).sort(), ['nest/in', 'nest/out'])
  off()
  await endClient(c)
})

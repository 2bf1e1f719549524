import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Logger } from '../../src/core/logger.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, connectCollect, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'

const warnings: Array<Record<string, unknown>> = []
const noop = (): void => undefined
const logger: Logger = {
  trace: noop,
  debug: noop,
  info: noop,
  error: noop,
  fatal: noop,
  warn: (a: Record<string, unknown> | string) => void warnings.push(typeof a === 'string' ? { msg: a } : a),
  child: () => logger,
}

let tb: TestBroker
before(async () => {
  tb = await startBroker({
    logger,
    limits: {
      max_connections: 8,
      max_subscriptions: 3,
      max_topic_length: 40,
      max_topic_levels: 4,
      max_keepalive: 120,
      max_session_expiry: '60s',
      max_retained: 3,
      max_queued_messages: 5,
      max_inflight: 4,
    },
  })
})
after(async () => {
  await tb.close()
})

function hits(): Record<string, number> {
  return (tb.broker.status().details as { limitHits: Record<string, number> }).limitHits
}

test('max_subscriptions refuses further filters with 0x97 (v5) and the client stays connected', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  let granted: unknown
  c.on('packetreceive', (p) => {
    if (p.cmd === 'suback' && p.messageId !== undefined) granted = p.granted
  })
  await c.subscribeAsync({ 'l/1': { qos: 0 }, 'l/2': { qos: 0 }, 'l/3': { qos: 0 }, 'l/4': { qos: 0 } }).catch(() => undefined)
  await waitFor(() => granted !== undefined, 3000, 10, 'SUBACK')
  assert.deepEqual(granted, [0, 0, 0, 0x97])
  assert.equal(c.connected, true)
  assert.ok((hits().subscriptions ?? 0) >= 1)
  await endClient(c)
})

test('topic length and level limits refuse filters and publishes, counted by kind', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 5 })
  let granted: unknown
  const acks: number[] = []
  c.on('packetreceive', (p) => {
    if (p.cmd === 'suback') granted = p.granted
    if (p.cmd === 'puback') acks.push(p.reasonCode ?? 0)
  })
  await c.subscribeAsync({ 'a/b/c/d/e': { qos: 0 }, ['x'.repeat(50)]: { qos: 0 } }).catch(() => undefined)
  await waitFor(() => granted !== undefined, 3000, 10, 'SUBACK')
  assert.deepEqual(granted, [0x8f, 0x8f])
  await c.publishAsync('a/b/c/d/e', 'deep', { qos: 1 }).catch(() => undefined)
  await waitFor(() => acks.length === 1, 3000, 10, 'PUBACK')
  assert.equal(acks[0], 0x90)
  assert.ok((hits().topic_levels ?? 0) >= 2)
  assert.ok((hits().topic_length ?? 0) >= 1)
  await endClient(c)
})

test('v5: a keep-alive above max_keepalive is replaced by Server Keep Alive', { timeout: 10_000 }, async () => {
  let ska: number | undefined
  const c = await connectClient(tb.port, { protocolVersion: 5, keepalive: 600 }, (cl) => cl.once('connect', (ack) => (ska = ack.properties?.serverKeepAlive)))
  assert.equal(ska, 120)
  await endClient(c)
})

test('v3.1.1: a keep-alive above max_keepalive is refused with return code 2', { timeout: 10_000 }, async () => {
  await assert.rejects(connectClient(tb.port, { protocolVersion: 4, keepalive: 600 }), (err: Error & { code?: number }) => err.code === 2)
  const ok = await connectClient(tb.port, { protocolVersion: 4, keepalive: 100 })
  await endClient(ok)
})

test('a session expiry above max_session_expiry is capped and reported in CONNACK', { timeout: 10_000 }, async () => {
  let sei: number | undefined
  const c = await connectClient(tb.port, { protocolVersion: 5, clientId: 'cap-expiry', clean: false, properties: { sessionExpiryInterval: 86_400 } }, (cl) => cl.once('connect', (ack) => (sei = ack.properties?.sessionExpiryInterval)))
  assert.equal(sei, 60)
  await endClient(c)
})

test('max_retained stops new retained topics but replacing an existing one still works', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  for (let i = 0; i < 5; i++) await c.publishAsync(`ret/${i}`, `v${i}`, { qos: 1, retain: true })
  await c.publishAsync('ret/0', 'replaced', { qos: 1, retain: true })
  const d = tb.broker.status().details as { retained: number }
  assert.equal(d.retained, 3)
  assert.ok((hits().retained ?? 0) >= 2)
  const s = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(s)
  await s.subscribeAsync('ret/0')
  await waitFor(() => got.length === 1, 3000, 10, 'retained')
  assert.equal(got[0]?.payload, 'replaced')
  await Promise.all([endClient(c), endClient(s)])
})

test('the offline queue holds at most max_queued_messages and the limit is logged once per minute', { timeout: 10_000 }, async () => {
  const opts = { protocolVersion: 4 as const, clientId: 'queue-limit', clean: false }
  const a = await connectClient(tb.port, opts)
  await a.subscribeAsync('q/t', { qos: 1 })
  await endClient(a)
  warnings.length = 0
  const p = await connectClient(tb.port, { protocolVersion: 4 })
  for (let i = 0; i < 9; i++) await p.publishAsync('q/t', String(i), { qos: 1 })
  assert.equal(warnings.filter((w) => w.clientId === 'queue-limit').length, 1)
  const { client: b, got } = await connectCollect(tb.port, opts)
  await waitFor(() => got.length === 5, 3000, 10, 'queued messages')
  await sleep(100)
  assert.deepEqual(
    got.map((g) => g.payload),
    ['0', '1', '2', '3', '4'],
  )
  await Promise.all([endClient(b), endClient(p)])
})

test('a v5 client exceeding Receive Maximum is disconnected with 0x93', { timeout: 10_000 }, async () => {
  const off = tb.broker.subscribe('rm/t', () => new Promise<void>(() => undefined)) // never acknowledges
  const r = await rawSocket(tb.port)
  const id = Buffer.from('rm')
  const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([5, 2, 0, 60, 0, 0, id.length]), id])
  r.socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body]))
  await waitFor(() => r.data().length > 0, 3000, 10, 'CONNACK')
  for (let i = 1; i <= 5; i++) r.socket.write(Buffer.from([0x32, 9, 0, 4, 0x72, 0x6d, 0x2f, 0x74, 0, i, 0]))
  await r.closed
  const data = r.data()
  const disc = data.lastIndexOf(0xe0)
  assert.ok(disc > 0)
  assert.equal(data[disc + 2], 0x93)
  off()
})

test('the outbound window respects the client Receive Maximum', { timeout: 10_000 }, async () => {
  // a raw v5 subscriber with Receive Maximum 2 that never acknowledges
  const r = await rawSocket(tb.port)
  const id = Buffer.from('rx2')
  const props = Buffer.from([3, 0x21, 0, 2])
  const body = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([5, 2, 0, 60]), props, Buffer.from([0, id.length]), id])
  r.socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body]))
  const t = Buffer.from('w/t')
  const sub = Buffer.concat([Buffer.from([0, 1, 0, 0, t.length]), t, Buffer.from([1])])
  r.socket.write(Buffer.concat([Buffer.from([0x82, sub.length]), sub]))
  await waitFor(() => r.data().includes(0x90), 3000, 10, 'SUBACK')
  const p = await connectClient(tb.port, { protocolVersion: 5 })
  for (let i = 0; i < 4; i++) await p.publishAsync('w/t', String(i), { qos: 1 })
  await sleep(200)
  const publishes = [...r.data()].filter((b, i, all) => b === 0x32 && all[i + 2] === 0 && all[i + 3] === 3).length
  assert.equal(publishes, 2)
  r.socket.destroy()
  await endClient(p)
})

test('max_connections refuses connections beyond the limit without affecting others', { timeout: 10_000 }, async () => {
  const before = tb.broker.status().details as { clients: { connections: number } }
  const room = 8 - before.clients.connections
  const clients = await Promise.all(Array.from({ length: room }, () => connectClient(tb.port, { protocolVersion: 4 })))
  const extra = await rawSocket(tb.port)
  await extra.closed
  assert.equal(extra.data().length, 0)
  assert.ok((hits().connections ?? 0) >= 1)
  assert.ok(clients.every((c) => c.connected))
  await Promise.all(clients.map((c) => endClient(c)))
})

test('a limit of 0 means no limit for queued messages, subscriptions and retained messages', { timeout: 10_000 }, async () => {
  const own = await startBroker({ limits: { max_queued_messages: 0, max_queued_bytes: 0, max_subscriptions: 0, max_retained: 0 } })
  const opts = { protocolVersion: 4 as const, clientId: 'unlimited', clean: false }
  const a = await connectClient(own.port, opts)
  await a.subscribeAsync(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`u/${i}`, { qos: 1 as const }])))
  await endClient(a)
  const p = await connectClient(own.port, { protocolVersion: 4 })
  for (let i = 0; i < 20; i++) await p.publishAsync(`u/${i}`, String(i), { qos: 1, retain: true })
  const { client: b, got } = await connectCollect(own.port, opts)
  await waitFor(() => got.length === 20, 5000, 10, 'all queued messages')
  assert.equal((own.broker.status().details as { retained: number }).retained, 20)
  await Promise.all([endClient(b), endClient(p)])
  await own.close()
})

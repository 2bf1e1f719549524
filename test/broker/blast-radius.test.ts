import assert from 'node:assert/strict'
import { afterEach, beforeEach, test } from 'node:test'
import { captureLogger, type LogLine } from '../helpers/logger.ts'
import type { Message, PublishProperties } from '../../src/core/types.ts'
import { openHooks } from '../../src/broker/hooks.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, connectCollect, endClient, sleep, startBroker, type TestBroker } from './helpers.ts'

/*
 * A message that makes the encoder throw stands for any bug met while encoding, routing or delivering
 * one message: it may cost that message, never the process or the other subscribers. The wire check
 * keeps such properties out of client packets, so these go through the in-process API, with the
 * properties forced past the types.
 */
const BAD_PROPS = { contentType: null } as unknown as PublishProperties

let lines: LogLine[] = []

let tb: TestBroker
let uncaught: unknown[] = []
const onUncaught = (err: unknown): void => {
  uncaught.push(err)
}

beforeEach(async () => {
  const logger = captureLogger()
  lines = logger.lines
  uncaught = []
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
  tb = await startBroker({
    logger,
    sysInterval: 0,
    // a hook that throws for one topic: a bug met while a will is published from a socket close handler
    hooks: { ...openHooks, authorizePublish: (_who, topic) => (topic === 'will/boom' ? (() => { throw new Error('hook bug') })() : true) },
  })
})

afterEach(async () => {
  await tb.close()
  process.off('uncaughtException', onUncaught)
  process.off('unhandledRejection', onUncaught)
})

function details(): { messages: { dropped: number; droppedBy: Record<string, number> } } {
  return tb.broker.status().details as { messages: { dropped: number; droppedBy: Record<string, number> } }
}

async function qos1RoundTrip(protocolVersion: 4 | 5): Promise<void> {
  const c = await connectClient(tb.port, { protocolVersion })
  const got = collect(c)
  await c.subscribeAsync('ok/rt', { qos: 1 })
  await c.publishAsync('ok/rt', 'fine', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 10, 'round trip')
  await endClient(c)
}

function bad(topic: string, qos: 0 | 1 | 2, retain = false): Message {
  return { topic, payload: Buffer.from('x'), qos, retain, properties: BAD_PROPS }
}

test('a message that cannot be encoded for v5 subscribers is dropped for them only: 3.1.1 and in-process subscribers get it, the publisher is not blamed', async () => {
  const v5a = await connectClient(tb.port, { protocolVersion: 5, clientId: 'v5-a' })
  const v5b = await connectClient(tb.port, { protocolVersion: 5, clientId: 'v5-b' })
  const v4 = await connectClient(tb.port, { protocolVersion: 4, clientId: 'v4-c' })
  const [ga, gb, gc] = [collect(v5a), collect(v5b), collect(v4)]
  for (const c of [v5a, v5b, v4]) await c.subscribeAsync('live/#', { qos: 1 })
  const inProcess: string[] = []
  tb.broker.subscribe('live/#', (m) => {
    inProcess.push(m.topic)
  })
  await tb.broker.publish(bad('live/x', 1))
  await tb.broker.publish({ topic: 'live/y', payload: Buffer.from('good'), qos: 1, retain: false })
  await waitFor(() => ga.length === 1 && gb.length === 1 && gc.length === 2, 5000, 10, 'deliveries')
  assert.deepEqual(ga.map((g) => g.topic), ['live/y'])
  assert.deepEqual(gb.map((g) => g.topic), ['live/y'])
  assert.deepEqual(gc.map((g) => g.topic), ['live/x', 'live/y'])
  assert.deepEqual(inProcess, ['live/x', 'live/y'])
  assert.equal(details().messages.dropped, 2)
  assert.equal(details().messages.droppedBy.encode, 2)
  const logged = lines.filter((l) => l.level === 'error' && l.obj.topic === 'live/x')
  assert.equal(logged.length, 1, 'the first drop is logged, the second counted for the summary')
  assert.equal(logged[0]?.obj.clientId, 'v5-a')
  for (const c of [v5a, v5b, v4]) await endClient(c)
  await qos1RoundTrip(5)
  assert.deepEqual(uncaught, [])
})

test('a bad message queued for an offline persistent v5 session is dropped on resume, and the messages queued after it are delivered', async () => {
  const opts = { protocolVersion: 5 as const, clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 600 } }
  const first = await connectClient(tb.port, opts)
  await first.subscribeAsync('queued/#', { qos: 1 })
  await endClient(first)
  await tb.broker.publish({ topic: 'queued/1', payload: Buffer.from('a'), qos: 1, retain: false })
  await tb.broker.publish(bad('queued/2', 1))
  await tb.broker.publish({ topic: 'queued/3', payload: Buffer.from('c'), qos: 1, retain: false })
  const { client, got } = await connectCollect(tb.port, opts)
  await waitFor(() => got.length === 2, 5000, 10, 'the good queued messages')
  assert.deepEqual(got.map((g) => g.topic), ['queued/1', 'queued/3'])
  assert.equal(details().messages.droppedBy.encode, 1)
  await endClient(client)
  await qos1RoundTrip(4)
  assert.deepEqual(uncaught, [])
})

test('a retained message that cannot be encoded is skipped on subscribe; the other retained messages are sent', async () => {
  await tb.broker.publish(bad('ret/bad', 0, true))
  await tb.broker.publish({ topic: 'ret/good', payload: Buffer.from('g'), qos: 0, retain: true })
  const { client, got } = await connectCollect(tb.port, { protocolVersion: 5 })
  await client.subscribeAsync('ret/#', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 10, 'the good retained message')
  await sleep(100)
  assert.deepEqual(got.map((g) => g.topic), ['ret/good'])
  assert.equal(details().messages.droppedBy.encode, 1)
  await endClient(client)
  assert.deepEqual(uncaught, [])
})

test('a will whose publication throws (a hook bug) is dropped, counted and logged; the process and other clients carry on', async () => {
  const willClient = await connectClient(tb.port, { protocolVersion: 5, clientId: 'dies', will: { topic: 'will/boom', payload: Buffer.from('bye'), qos: 1, retain: false } })
  // the will fires when the network connection ends without DISCONNECT
  ;(willClient.stream as unknown as { destroy(): void }).destroy()
  await waitFor(() => details().messages.dropped === 1, 5000, 10, 'the will to be dropped')
  assert.equal(details().messages.droppedBy.will, 1)
  assert.ok(lines.some((l) => l.level === 'error' && l.obj.clientId === 'dies' && l.obj.topic === 'will/boom'))
  willClient.end(true)
  await qos1RoundTrip(5)
  assert.deepEqual(uncaught, [])
})

test('$SYS publishes the dropped count', async () => {
  await tb.broker.publish(bad('sys/x', 0, true))
  const { client, got } = await connectCollect(tb.port, { protocolVersion: 5 })
  await client.subscribeAsync(['sys/#', '$SYS/broker/messages/dropped'], { qos: 0 })
  await waitFor(() => details().messages.dropped === 1, 5000, 10, 'the retained message to be dropped')
  // publish the $SYS tree now instead of waiting for sys_interval
  ;(tb.broker as unknown as { sys: { publishOnce(): void } }).sys.publishOnce()
  await waitFor(() => got.some((g) => g.topic === '$SYS/broker/messages/dropped'), 5000, 10, '$SYS dropped count')
  assert.equal(got.find((g) => g.topic === '$SYS/broker/messages/dropped')?.payload, '1')
  await endClient(client)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Aedes } from 'aedes'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { freePort } from '../helpers/ports.ts'
import { FakeLocalBroker, startUplink, waitForValue, waitOnline } from './fixtures.ts'

/** Mosquitto here is built without WebSockets, so the ws:// upstream is Aedes behind a `ws` server. */
test('an uplink over ws:// publishes with acknowledgement and receives downlink commands', { timeout: 20_000 }, async () => {
  const aedes = await Aedes.createBroker()
  const port = await freePort()
  const wss = new WebSocketServer({ host: '127.0.0.1', port })
  wss.on('connection', (ws) => {
    const stream = createWebSocketStream(ws)
    stream.on('error', () => undefined)
    aedes.handle(stream as unknown as Parameters<typeof aedes.handle>[0])
  })
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
  const upstream: string[] = []
  aedes.subscribe('ws/#', (packet, cb) => {
    upstream.push(`${packet.topic}=${packet.payload.toString()}`)
    cb()
  }, () => undefined)
  const local = new FakeLocalBroker()
  const u = startUplink(
    { name: 'ws1', url: `ws://127.0.0.1:${port}/mqtt`, protocol_version: 4, downlink: [{ remote_filter: 'down/#', local: 'cmd/{2}' }] },
    local,
  )
  try {
    await waitOnline(u)
    await u.publish({ topic: 'ws/data', payload: Buffer.from('over websocket'), qos: 1, retain: false })
    await waitForValue(() => upstream.find((s) => s === 'ws/data=over websocket'), 3000, 'message upstream')
    await new Promise<void>((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic: 'down/valve', payload: Buffer.from('close'), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
    )
    const got = await waitForValue(() => local.published.find((m) => m.topic === 'cmd/valve'), 3000, 'downlink locally')
    assert.equal(got.payload.toString(), 'close')
    assert.equal(got.origin, '$bridge:ws1')
  } finally {
    await u.stop()
    for (const c of wss.clients) c.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
  }
})

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { test } from 'node:test'
import { Aedes } from 'aedes'
import { createWebSocketStream, WebSocketServer } from 'ws'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { makePki } from './certs.ts'
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

test('an uplink over wss:// checks the server certificate against ca_file and delivers', { timeout: 20_000 }, async () => {
  const tmp = tempDir('fieldgate-bridge-wss-')
  const pki = makePki(tmp.dir)
  const aedes = await Aedes.createBroker()
  const port = await freePort()
  const server = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) })
  const wss = new WebSocketServer({ server })
  wss.on('connection', (ws) => {
    const stream = createWebSocketStream(ws)
    stream.on('error', () => undefined)
    aedes.handle(stream as unknown as Parameters<typeof aedes.handle>[0])
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()))
  const upstream: string[] = []
  aedes.subscribe('wss/#', (packet, cb) => {
    upstream.push(packet.payload.toString())
    cb()
  }, () => undefined)
  const u = startUplink({ name: 'wss1', url: `wss://127.0.0.1:${port}/mqtt`, protocol_version: 4, tls: { ca_file: pki.ca } })
  const untrusted = startUplink({ name: 'wss2', url: `wss://127.0.0.1:${port}/mqtt`, protocol_version: 4 })
  try {
    await waitOnline(u)
    await u.publish({ topic: 'wss/data', payload: Buffer.from('tls websocket'), qos: 1, retain: false })
    await waitForValue(() => upstream.find((s) => s === 'tls websocket'), 3000, 'message upstream')
    await waitFor(() => (untrusted.status().details.attempts as number) >= 2, 8000)
    assert.equal(untrusted.online, false, 'no CA file: the self-made certificate is refused')
  } finally {
    await u.stop()
    await untrusted.stop()
    for (const c of wss.clients) c.terminate()
    await new Promise<void>((resolve) => wss.close(() => resolve()))
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    tmp.cleanup()
  }
})

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker()
})
after(async () => {
  await tb.close()
})

/** A raw 3.1.1 CONNECT with a will and the given keep-alive. */
function connectWithWill(clientId: string, keepalive: number, willTopic: string, willPayload: string): Buffer {
  const id = Buffer.from(clientId)
  const wt = Buffer.from(willTopic)
  const wp = Buffer.from(willPayload)
  const flags = 0x02 | 0x04 | 0x08 // clean, will, will QoS 1
  const body = Buffer.concat([
    Buffer.from([0, 4]),
    Buffer.from('MQTT'),
    Buffer.from([4, flags, keepalive >> 8, keepalive & 0xff, 0, id.length]),
    id,
    Buffer.from([0, wt.length]),
    wt,
    Buffer.from([0, wp.length]),
    wp,
  ])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: the will is published when the connection drops without DISCONNECT`, { timeout: 10_000 }, async () => {
    const watcher = await connectClient(tb.port, { protocolVersion })
    const got = collect(watcher)
    await watcher.subscribeAsync(`will/${protocolVersion}/drop`, { qos: 1 })
    const victim = await connectClient(tb.port, { protocolVersion, will: { topic: `will/${protocolVersion}/drop`, payload: Buffer.from('gone'), qos: 1, retain: false } })
    victim.stream.destroy()
    await waitFor(() => got.length === 1, 5000, 10, 'will')
    assert.equal(got[0]?.payload, 'gone')
    await endClient(victim, true)
    await endClient(watcher)
  })

  test(`v${protocolVersion}: the will is not published after a normal DISCONNECT`, { timeout: 10_000 }, async () => {
    const watcher = await connectClient(tb.port, { protocolVersion })
    const got = collect(watcher)
    await watcher.subscribeAsync(`will/${protocolVersion}/clean`, { qos: 1 })
    const polite = await connectClient(tb.port, { protocolVersion, will: { topic: `will/${protocolVersion}/clean`, payload: Buffer.from('gone'), qos: 1, retain: false } })
    await endClient(polite)
    await sleep(200)
    assert.equal(got.length, 0)
    await endClient(watcher)
  })
}

test('the will is published when keep-alive expires (1.5 × the interval)', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(watcher)
  await watcher.subscribeAsync('will/keepalive', { qos: 1 })
  const raw = await rawSocket(tb.port)
  raw.socket.write(connectWithWill('ka-victim', 1, 'will/keepalive', 'silent'))
  const start = Date.now()
  await waitFor(() => got.length === 1, 5000, 20, 'will after keep-alive')
  assert.ok(Date.now() - start >= 1400, 'not before 1.5 × keep-alive')
  assert.equal(got[0]?.payload, 'silent')
  await raw.closed
  await endClient(watcher)
})

test('PINGREQ keeps a quiet connection alive', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 4, keepalive: 1 })
  let closed = false
  c.on('close', () => (closed = true))
  await sleep(2500)
  assert.equal(closed, false)
  await endClient(c)
})

test('v5: DISCONNECT with reason 0x04 publishes the will', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(watcher)
  await watcher.subscribeAsync('will/0x04', { qos: 1 })
  const c = await connectClient(tb.port, { protocolVersion: 5, will: { topic: 'will/0x04', payload: Buffer.from('asked'), qos: 1, retain: false } })
  await new Promise<void>((resolve) => c.end(false, { reasonCode: 0x04 }, () => resolve()))
  await waitFor(() => got.length === 1, 5000, 10, 'will')
  assert.equal(got[0]?.payload, 'asked')
  await endClient(watcher)
})

test('v5: a will with a delay is published after the delay, and not if the session resumes first', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 5 })
  const got = collect(watcher)
  await watcher.subscribeAsync('will/delay/#', { qos: 1 })
  const will = (t: string) => ({ topic: `will/delay/${t}`, payload: Buffer.from(t), qos: 1 as const, retain: false, properties: { willDelayInterval: 1 } })
  const opts = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } }
  const late = await connectClient(tb.port, { ...opts, clientId: 'wd-late', will: will('late') })
  const back = await connectClient(tb.port, { ...opts, clientId: 'wd-back', will: will('back') })
  const t0 = Date.now()
  late.stream.destroy()
  back.stream.destroy()
  await sleep(200)
  assert.equal(got.length, 0, 'nothing before the delay')
  const again = await connectClient(tb.port, { ...opts, clientId: 'wd-back' })
  await waitFor(() => got.length >= 1, 5000, 20, 'delayed will')
  assert.ok(Date.now() - t0 >= 900)
  await sleep(400)
  assert.deepEqual(
    got.map((g) => g.payload),
    ['late'],
  )
  await Promise.all([endClient(late, true), endClient(back, true), endClient(again), endClient(watcher)])
})

test('a session taken over publishes the old connection will', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(watcher)
  await watcher.subscribeAsync('will/takeover', { qos: 1 })
  const first = await connectClient(tb.port, { protocolVersion: 4, clientId: 'wt', will: { topic: 'will/takeover', payload: Buffer.from('old'), qos: 1, retain: false } })
  const second = await connectClient(tb.port, { protocolVersion: 4, clientId: 'wt' })
  await waitFor(() => got.length === 1, 5000, 10, 'will of the replaced connection')
  await Promise.all([endClient(first, true), endClient(second), endClient(watcher)])
})

test('the will is published when the broker closes a connection for a protocol error', { timeout: 10_000 }, async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(watcher)
  await watcher.subscribeAsync('will/protocol', { qos: 1 })
  const raw = await rawSocket(tb.port)
  raw.socket.write(connectWithWill('proto-victim', 60, 'will/protocol', 'broke the rules'))
  await waitFor(() => raw.data().length >= 4, 3000, 10, 'CONNACK')
  // PUBLISH to a topic with a wildcard [MQTT-3.3.2-2]
  raw.socket.write(Buffer.from([0x30, 5, 0, 3, 0x61, 0x2f, 0x23]))
  await raw.closed
  await waitFor(() => got.length === 1, 5000, 10, 'will')
  assert.equal(got[0]?.payload, 'broke the rules')
  await endClient(watcher)
})

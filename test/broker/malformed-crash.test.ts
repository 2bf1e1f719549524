import assert from 'node:assert/strict'
import { after, before, beforeEach, test } from 'node:test'
import mqtt from 'mqtt'
import { gatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { rawSocket, sleep } from './helpers.ts'
import { CONTENT_TYPE_PAST_END, connectBytes, disconnectReason, publishBytes } from './wire-packets.ts'

// The real gateway process: the bug these tests pin down ended it with an uncaught exception.
let dir: string
let cleanup: () => void
let port: number
let gw: GatewayProcess

function config(): string {
  return gatewayToml({ id: 'malformed', logLevel: 'info', port, dataDir: `${dir}/data` })
}

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-malformed-'))
  port = await freePort()
  gw = await startGateway(dir, config(), { waitPort: port })
})

// each case on a running gateway, whatever the previous one did to it
beforeEach(async () => {
  if (gw.proc.exitCode !== null || gw.proc.signalCode !== null) gw = await startGateway(dir, config(), { waitPort: port })
})

after(async () => {
  await gw.kill()
  cleanup()
})

function alive(): void {
  assert.equal(gw.proc.exitCode, null, `gateway exited:\n${gw.log.join('').slice(-3000)}`)
  assert.equal(gw.proc.signalCode, null)
}

/** A well-behaved client still gets a QoS 1 round trip through the broker. */
async function roundTrip(protocolVersion: 4 | 5): Promise<void> {
  const c = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion, reconnectPeriod: 0, connectTimeout: 5000 })
  try {
    const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())))
    await c.subscribeAsync('ok/rt', { qos: 1 })
    await c.publishAsync('ok/rt', `v${protocolVersion}`, { qos: 1 })
    assert.equal(await got, `v${protocolVersion}`)
  } finally {
    await c.endAsync()
  }
}

/** DISCONNECT may only follow CONNACK [MQTT-3.14.0-1]: wait for it before sending the bad packet. */
async function connack(data: () => Buffer): Promise<void> {
  await waitFor(() => data().length >= 4 && data()[0] === 0x20, 5000, 10, 'CONNACK')
}

function logLines(match: string): string[] {
  return gw.log
    .join('')
    .split('\n')
    .filter((l) => l.includes(match))
}

test('a v5 PUBLISH whose Content Type runs past the packet is answered with DISCONNECT 0x81, logged once, and a v5 subscriber is unaffected', async () => {
  const sub = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0 })
  const seen: string[] = []
  sub.on('message', (t) => seen.push(t))
  await sub.subscribeAsync('bad/live/#', { qos: 1 })
  const r = await rawSocket(port)
  r.socket.write(connectBytes({ clientId: 'bad-live', v5: true }))
  await connack(r.data)
  r.socket.write(publishBytes({ topic: 'bad/live/x', payload: '', qos: 0, v5: true, props: CONTENT_TYPE_PAST_END }))
  await Promise.race([r.closed, sleep(5000)])
  assert.ok(r.socket.readableEnded || r.socket.destroyed, 'the broker closed the connection')
  assert.equal(disconnectReason(r.data()), 0x81)
  await roundTrip(5)
  alive()
  assert.deepEqual(seen, [], 'the malformed message was not delivered')
  await sub.endAsync()
  const lines = logLines('bad-live')
  assert.equal(lines.length, 1, `one log line for the malformed packet:\n${lines.join('\n')}`)
  assert.match(lines[0] as string, /Content Type/)
  assert.match(lines[0] as string, /"level":40/)
})

test('a v5 will whose Content Type runs past the packet does not end the gateway when the client drops and a v5 subscriber listens', async () => {
  // a fresh process and log: the previous case's malformed-packet line holds back this one for 10 s
  await gw.kill()
  gw = await startGateway(dir, config(), { waitPort: port })
  const sub = await mqtt.connectAsync({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0 })
  const seen: string[] = []
  sub.on('message', (t) => seen.push(t))
  await sub.subscribeAsync('bad/will/#', { qos: 1 })
  const r = await rawSocket(port)
  r.socket.write(connectBytes({ clientId: 'bad-will', v5: true, will: { topic: 'bad/will/x', payload: 'gone', qos: 1, props: CONTENT_TYPE_PAST_END } }))
  await Promise.race([r.closed, sleep(1000)])
  r.socket.destroy() // the will's trigger: the network connection ends without DISCONNECT
  await sleep(200)
  await roundTrip(5)
  alive()
  assert.deepEqual(seen, [], 'no will from a malformed CONNECT')
  await sub.endAsync()
  const lines = logLines('bad-will')
  assert.equal(lines.length, 1, `one log line naming the client:\n${lines.join('\n')}`)
  assert.match(lines[0] as string, /will property Content Type/)
})

test('a malformed QoS 1 message for an offline persistent v5 session is refused, and the session resumes without ending the gateway', async () => {
  const opts = { host: '127.0.0.1', port, protocolVersion: 5 as const, clientId: 'offline-v5', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 600 } }
  const sub = await mqtt.connectAsync(opts)
  await sub.subscribeAsync('bad/queued/#', { qos: 1 })
  await sub.endAsync()
  const r = await rawSocket(port)
  r.socket.write(connectBytes({ clientId: 'bad-queued', v5: true }))
  await connack(r.data)
  r.socket.write(publishBytes({ topic: 'bad/queued/x', payload: 'p', qos: 1, id: 7, v5: true, props: CONTENT_TYPE_PAST_END }))
  await Promise.race([r.closed, sleep(5000)])
  assert.equal(disconnectReason(r.data()), 0x81)
  const seen: string[] = []
  const again = await mqtt.connectAsync(opts).catch((err: unknown) => {
    throw new Error(`reconnect failed: ${String(err)}\n${gw.log.join('').slice(-2000)}`)
  })
  again.on('message', (t) => seen.push(t))
  await sleep(300)
  await roundTrip(5)
  alive()
  assert.deepEqual(seen, [])
  await again.endAsync()
})

test('after all of the above, the gateway is still running and serves 3.1.1 as well', async () => {
  await roundTrip(4)
  await waitFor(() => gw.proc.exitCode === null, 100, 10, 'gateway alive')
  alive()
})

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
import { after, before, test } from 'node:test'
import { WebSocket } from 'ws'
import { makeTestCerts, type TestCerts } from '../../helpers/certs.ts'
import { connectOk, startSecureBroker, tryConnect, type SecureBroker } from './setup.ts'

let certs: TestCerts
let sb: SecureBroker
let wsPort: number
let wssPort: number
let mwssPort: number

before(async () => {
  certs = makeTestCerts(['browser-1'])
  const tls = { cert_file: certs.serverCert, key_file: certs.serverKey }
  sb = await startSecureBroker({
    listeners: [
      { protocol: 'ws' },
      { protocol: 'wss', tls },
      { protocol: 'wss', allow_anonymous: false, tls: { ...tls, ca_file: certs.caCert, require_client_cert: true, use_cn_as_username: true } },
    ],
    handshakeTimeout: 2000,
    acl: '[[rule]]\ntopic = "dash/#"\naccess = "readwrite"\n\n[[rule]]\ntopic = "cn/%u"\naccess = "write"\n',
  })
  ;[wsPort, wssPort, mwssPort] = sb.ports as [number, number, number]
})
after(async () => {
  await sb.close()
  certs.cleanup()
})

async function roundTrip(url: string, opts: Record<string, unknown>, tag: string): Promise<void> {
  for (const protocolVersion of [4, 5] as const) {
    const c = await connectOk(url, { protocolVersion, clientId: `${tag}-${protocolVersion}`, ...opts })
    const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())))
    await c.subscribeAsync(`dash/${tag}`, { qos: 1 })
    // Larger than one TCP segment so the MQTT packet is split across reads.
    const payload = `${tag}-${protocolVersion}-` + 'x'.repeat(70_000)
    await c.publishAsync(`dash/${tag}`, payload, { qos: 1 })
    assert.equal(await got, payload)
    await c.endAsync()
  }
}

test('MQTT.js over WebSocket on /mqtt publishes and receives on both protocol levels', { timeout: 15_000 }, async () => {
  await roundTrip(`ws://127.0.0.1:${wsPort}/mqtt`, {}, 'ws')
})

test('MQTT.js over secure WebSocket verifies the server certificate and exchanges messages', { timeout: 15_000 }, async () => {
  await roundTrip(`wss://127.0.0.1:${wssPort}/mqtt`, { ca: readFileSync(certs.caCert) }, 'wss')
})

test('secure WebSocket with client certificates takes the user name from the CN and refuses clients without one', { timeout: 15_000 }, async () => {
  const b = certs.clients['browser-1']
  assert.ok(b)
  const url = `wss://127.0.0.1:${mwssPort}/mqtt`
  const c = await connectOk(url, { protocolVersion: 5, clientId: 'b1', ca: readFileSync(certs.caCert), cert: readFileSync(b.cert), key: readFileSync(b.key) })
  await c.publishAsync('cn/browser-1', 'mine', { qos: 1 })
  await assert.rejects(c.publishAsync('cn/browser-2', 'not mine', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  await c.endAsync()
  const none = await tryConnect(url, { protocolVersion: 5, clientId: 'nocert', ca: readFileSync(certs.caCert) })
  assert.equal(none.client, null)
})

test('the server answers with the mqtt subprotocol', { timeout: 15_000 }, async () => {
  const ws = new WebSocket(`ws://127.0.0.1:${wsPort}/mqtt`, ['mqtt'])
  const protocol = await new Promise<string>((resolve, reject) => {
    ws.once('open', () => resolve(ws.protocol))
    ws.once('error', reject)
  })
  assert.equal(protocol, 'mqtt')
  ws.close()
})

test('other paths are refused and plain HTTP is told to upgrade', { timeout: 15_000 }, async () => {
  const wrong = new WebSocket(`ws://127.0.0.1:${wsPort}/other`, ['mqtt'])
  const status = await new Promise<number>((resolve) => {
    wrong.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    wrong.once('error', () => resolve(-1))
  })
  assert.ok(status === 400 || status === -1, `refused, got ${status}`)
  wrong.terminate()
  const code = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: wsPort, path: '/mqtt' }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.once('error', reject)
    req.end()
  })
  assert.equal(code, 426)
})

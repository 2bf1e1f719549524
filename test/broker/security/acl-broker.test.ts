import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { hashPassword } from '../../../src/broker/auth/passwords.ts'
import { waitFor } from '../../helpers/tmp.ts'
import { connectOk, startSecureBroker, subackCodes, type SecureBroker } from './setup.ts'

const FAST = { ln: 10, r: 8, p: 1 }
const ACL = `
[[rule]]
topic = "sensors/%u/#"
access = "write"

[[rule]]
user = "dashboard"
topic = "sensors/#"
access = "read"

[[rule]]
user = "dashboard"
topic = "$SYS/#"
access = "read"
`
let sb: SecureBroker
let url: string
const login = (user: string): { username: string; password: string } => ({ username: user, password: `${user}-pw` })

before(async () => {
  const users = ['alice', 'bob', 'dashboard']
  const lines = await Promise.all(users.map(async (u) => `${u}:${await hashPassword(`${u}-pw`, FAST)}`))
  sb = await startSecureBroker({ listeners: [{ protocol: 'mqtt', allow_anonymous: false }], passwords: lines.join('\n') + '\n', acl: ACL })
  url = `mqtt://127.0.0.1:${sb.ports[0]}`
})
after(() => sb.close())

function collect(c: MqttClient): Array<{ topic: string; payload: string }> {
  const got: Array<{ topic: string; payload: string }> = []
  c.on('message', (topic, p) => got.push({ topic, payload: p.toString() }))
  return got
}

test('a denied SUBSCRIBE gets 0x87 in v5 and 0x80 in 3.1.1 while permitted filters are granted', { timeout: 15_000 }, async () => {
  const v5 = await connectOk(url, { protocolVersion: 5, clientId: 'alice-5', ...login('alice') })
  assert.deepEqual(await subackCodes(v5, { 'sensors/#': { qos: 1 }, 'sensors/alice/t': { qos: 0 } }), [0x87, 0x87])
  const v4 = await connectOk(url, { protocolVersion: 4, clientId: 'alice-4', ...login('alice') })
  assert.deepEqual(await subackCodes(v4, { 'sensors/#': { qos: 1 } }), [0x80])
  const dash = await connectOk(url, { protocolVersion: 4, clientId: 'dash-4', ...login('dashboard') })
  assert.deepEqual(await subackCodes(dash, { 'sensors/#': { qos: 1 }, 'sensors/alice/+': { qos: 0 } }), [1, 0])
  await Promise.all([v5.endAsync(), v4.endAsync(), dash.endAsync()])
})

test('a denied PUBLISH gets 0x87 in v5 and is acknowledged but dropped in 3.1.1', { timeout: 15_000 }, async () => {
  const dash = await connectOk(url, { protocolVersion: 5, clientId: 'dash-watch', ...login('dashboard') })
  await dash.subscribeAsync('sensors/#', { qos: 1 })
  const got = collect(dash)
  const a5 = await connectOk(url, { protocolVersion: 5, clientId: 'alice-pub5', ...login('alice') })
  await assert.rejects(a5.publishAsync('sensors/bob/t', 'forged-5', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  const a4 = await connectOk(url, { protocolVersion: 4, clientId: 'alice-pub4', ...login('alice') })
  await a4.publishAsync('sensors/bob/t', 'forged-4', { qos: 1 }) // PUBACK arrives: 3.1.1 has no way to say no
  await a4.publishAsync('sensors/bob/t', 'forged-4-q0', { qos: 0 })
  // A permitted publish after the denied ones: once it arrives, the denied ones would have too.
  await a4.publishAsync('sensors/alice/t', 'allowed', { qos: 1 })
  await waitFor(() => got.some((m) => m.payload === 'allowed'), 5000, 10, 'the permitted message')
  assert.deepEqual(got, [{ topic: 'sensors/alice/t', payload: 'allowed' }])
  assert.equal(a4.connected, true, 'a 3.1.1 publisher is not disconnected for a denied publish')
  await Promise.all([dash.endAsync(), a5.endAsync(), a4.endAsync()])
})

test('$SYS is readable only by the user the ACL names and nobody may publish to it', { timeout: 15_000 }, async () => {
  const dash = await connectOk(url, { protocolVersion: 5, clientId: 'dash-sys', ...login('dashboard') })
  assert.deepEqual(await subackCodes(dash, { '$SYS/#': { qos: 0 } }), [0])
  const bob = await connectOk(url, { protocolVersion: 5, clientId: 'bob-sys', ...login('bob') })
  assert.deepEqual(await subackCodes(bob, { '$SYS/#': { qos: 0 } }), [0x87])
  await assert.rejects(dash.publishAsync('$SYS/broker/fake', 'x', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  await Promise.all([dash.endAsync(), bob.endAsync()])
})

test('an ACL reload takes effect for new subscriptions and for deliveries on existing ones', { timeout: 15_000 }, async () => {
  const dash = await connectOk(url, { protocolVersion: 5, clientId: 'dash-reload', ...login('dashboard') })
  await dash.subscribeAsync('sensors/#', { qos: 1 })
  const got = collect(dash)
  const bob = await connectOk(url, { protocolVersion: 5, clientId: 'bob-reload', ...login('bob') })
  await bob.publishAsync('sensors/bob/t', 'before', { qos: 1 })
  await waitFor(() => got.length === 1, 5000, 10, 'the first delivery')
  // The dashboard loses sensors/bob: an existing subscription stops delivering it.
  sb.write('acl.toml', ACL + '\n[[rule]]\nuser = "dashboard"\ntopic = "sensors/bob/#"\naccess = "deny"\n')
  await sb.security.reload()
  await bob.publishAsync('sensors/bob/t', 'after', { qos: 1 })
  await bob.publishAsync('sensors/bob/t', 'after', { qos: 1 })
  const alice = await connectOk(url, { protocolVersion: 5, clientId: 'alice-reload', ...login('alice') })
  await alice.publishAsync('sensors/alice/t', 'marker', { qos: 1 })
  await waitFor(() => got.some((m) => m.payload === 'marker'), 5000, 10, 'the marker')
  assert.deepEqual(
    got.map((m) => m.payload),
    ['before', 'marker'],
  )
  assert.deepEqual(await subackCodes(dash, { 'sensors/bob/#': { qos: 1 } }), [0x87])
  sb.write('acl.toml', ACL)
  await sb.security.reload()
  await Promise.all([dash.endAsync(), bob.endAsync(), alice.endAsync()])
})

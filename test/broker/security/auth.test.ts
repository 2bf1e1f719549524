import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { hashPassword } from '../../../src/broker/auth/passwords.ts'
import { waitFor } from '../../helpers/tmp.ts'
import { connectOk, startSecureBroker, tryConnect, type SecureBroker } from './setup.ts'

const FAST = { ln: 10, r: 8, p: 1 }
const PUMP_TOKEN = 'pump7-' + 'a1b2c3d4'.repeat(3)
const METER_TOKEN = 'meter1-' + 'e5f6a7b8'.repeat(3)
let sb: SecureBroker
let url: string
let closedUrl: string
let aliceLine: string

before(async () => {
  aliceLine = `alice:${await hashPassword('alice-pw', FAST)}`
  const pw = `${aliceLine}\nbob:${await hashPassword('bob-pw', FAST)}\n`
  sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtt' }, { protocol: 'mqtt', allow_anonymous: false }],
    passwords: pw,
    tokens: `${PUMP_TOKEN} pump-7\n${METER_TOKEN} meter-1\n`,
    auth: { lockout_failures: 1000 },
  })
  url = `mqtt://127.0.0.1:${sb.ports[0]}`
  closedUrl = `mqtt://127.0.0.1:${sb.ports[1]}`
})
after(() => sb.close())

test('a user with the right password connects on both protocol levels', { timeout: 15_000 }, async () => {
  for (const protocolVersion of [4, 5] as const) {
    const c = await connectOk(closedUrl, { protocolVersion, clientId: `alice-${protocolVersion}`, username: 'alice', password: 'alice-pw' })
    await c.endAsync()
  }
})

test('a wrong password is refused with 0x86 in v5 and return code 4 in 3.1.1, and the log names address and client but not the password', { timeout: 15_000 }, async () => {
  const v5 = await tryConnect(closedUrl, { protocolVersion: 5, clientId: 'guess-5', username: 'alice', password: 'hunter2-guess' })
  assert.equal(v5.code, 0x86)
  const v4 = await tryConnect(closedUrl, { protocolVersion: 4, clientId: 'guess-4', username: 'nobody', password: 'hunter2-guess' })
  assert.equal(v4.code, 4)
  const refusals = sb.logs.filter((r) => r.msg.startsWith('login refused'))
  const forGuess5 = refusals.find((r) => r.obj.clientId === 'guess-5')
  assert.ok(forGuess5, 'the refusal is logged')
  assert.equal(forGuess5.obj.address, '127.0.0.1')
  assert.equal(forGuess5.obj.username, 'alice')
  assert.ok(refusals.some((r) => r.obj.clientId === 'guess-4'))
  assert.ok(!JSON.stringify(sb.logs).includes('hunter2-guess'), 'no password in any log line')
})

test('a listener with allow_anonymous = false refuses clients without credentials', { timeout: 15_000 }, async () => {
  assert.equal((await tryConnect(closedUrl, { protocolVersion: 5, clientId: 'anon-5' })).code, 0x87)
  assert.equal((await tryConnect(closedUrl, { protocolVersion: 4, clientId: 'anon-4' })).code, 5)
  const open = await connectOk(url, { protocolVersion: 5, clientId: 'anon-loopback' })
  await open.endAsync()
})

test('a device logs in with user name Token and its token, and a wrong token is refused', { timeout: 15_000 }, async () => {
  const c = await connectOk(closedUrl, { protocolVersion: 5, clientId: 'pump', username: 'Token', password: PUMP_TOKEN })
  await c.endAsync()
  assert.equal((await tryConnect(closedUrl, { protocolVersion: 5, clientId: 'pump-x', username: 'Token', password: PUMP_TOKEN + 'x' })).code, 0x86)
  assert.ok(!JSON.stringify(sb.logs).includes(PUMP_TOKEN), 'no token in any log line')
})

test('revoking a token disconnects the device within a second and leaves other devices connected', { timeout: 15_000 }, async () => {
  const pump = await connectOk(closedUrl, { protocolVersion: 5, clientId: 'pump-live', username: 'Token', password: PUMP_TOKEN })
  const meter = await connectOk(closedUrl, { protocolVersion: 4, clientId: 'meter-live', username: 'Token', password: METER_TOKEN })
  let reason: number | undefined
  pump.on('disconnect', (p) => (reason = p.reasonCode))
  sb.write('tokens', `${METER_TOKEN} meter-1\n`)
  await sb.security.reload()
  await waitFor(() => !pump.connected, 1000, 10, 'the revoked device to be disconnected')
  assert.equal(reason, 0x87)
  assert.equal(meter.connected, true)
  assert.equal((await tryConnect(closedUrl, { protocolVersion: 5, clientId: 'pump-again', username: 'Token', password: PUMP_TOKEN })).code, 0x86)
  await meter.endAsync()
  pump.end(true)
})

test('changing a password disconnects that user on reload; a broken file keeps the old one in force', { timeout: 15_000 }, async () => {
  const bob = await connectOk(closedUrl, { protocolVersion: 4, clientId: 'bob-live', username: 'bob', password: 'bob-pw' })
  const alice = await connectOk(closedUrl, { protocolVersion: 4, clientId: 'alice-live', username: 'alice', password: 'alice-pw' })
  const text = `${aliceLine}\nbob:${await hashPassword('bob-new', FAST)}\n`
  sb.write('passwords', 'bob:not-a-hash\n')
  await sb.security.reload()
  assert.equal(sb.security.status().health, 'degraded')
  assert.equal(bob.connected, true, 'a broken file revokes nobody')
  sb.write('passwords', text)
  await sb.security.reload()
  assert.equal(sb.security.status().health, 'ok')
  await waitFor(() => !bob.connected, 1000, 10, 'bob to be disconnected')
  assert.equal(alice.connected, true, 'an unchanged user stays connected')
  await alice.endAsync()
  bob.end(true)
})

test('an address with many failed logins is refused even with the right password until the failures age out', { timeout: 20_000 }, async () => {
  const locked = await startSecureBroker({
    listeners: [{ protocol: 'mqtt' }],
    passwords: `carol:${await hashPassword('carol-pw', FAST)}\n`,
    auth: { lockout_failures: 3 },
    guard: { delayAfter: 2, baseDelay: 50, maxDelay: 50 },
  })
  try {
    const u = `mqtt://127.0.0.1:${locked.ports[0]}`
    for (let i = 0; i < 3; i++) assert.equal((await tryConnect(u, { protocolVersion: 5, clientId: `g${i}`, username: 'carol', password: `guess${i}` })).code, 0x86)
    const r = await tryConnect(u, { protocolVersion: 5, clientId: 'carol', username: 'carol', password: 'carol-pw' })
    assert.equal(r.code, 0x87)
    const details = locked.security.status().details
    assert.equal(details.lockedAddresses, 1)
    assert.equal(details.failedLogins, 3)
    assert.equal(details.refusedWhileLocked, 1)
  } finally {
    await locked.close()
  }
})

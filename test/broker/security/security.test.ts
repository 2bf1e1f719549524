import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { createSecurity } from '../../../src/broker/auth/index.ts'
import { hashPassword } from '../../../src/broker/auth/passwords.ts'
import type { AuthRequest, AuthResult, ConnectionInfo } from '../../../src/broker/hooks.ts'
import { brokerSchema } from '../../../src/config/sections/broker.ts'
import { FakeClock } from '../../../src/core/clock.ts'
import { isFieldgateError } from '../../../src/core/errors.ts'
import { silentLogger } from '../../../src/core/logger.ts'
import { tempDir } from '../../helpers/tmp.ts'
import { brokerSettings } from '../../../src/gateway/options/broker.ts'

const FAST = { ln: 10, r: 8, p: 1 }
const info = (over: Partial<ConnectionInfo> = {}): ConnectionInfo => ({
  remoteAddress: '192.168.1.50',
  remotePort: 40000,
  listener: 'lan',
  protocol: 'mqtt',
  allowAnonymous: false,
  ...over,
})
const req = (username: string | undefined, password: string | undefined, over: Partial<ConnectionInfo> = {}): AuthRequest => ({
  clientId: 'c1',
  info: info(over),
  ...(username === undefined ? {} : { username }),
  ...(password === undefined ? {} : { password: Buffer.from(password) }),
})

test('a missing security file stops the start with AUTH_FILE naming the file', { timeout: 10_000 }, async () => {
  const cfg = brokerSchema.parse({ auth: { password_file: '/nonexistent/fieldgate/passwords' } })
  await assert.rejects(createSecurity(brokerSettings(cfg), silentLogger), (e: unknown) => isFieldgateError(e, 'AUTH_FILE') && e.message.includes('/nonexistent/fieldgate/passwords'))
})

test('without a password file a user name proves nothing: anonymous where allowed, refused elsewhere', { timeout: 10_000 }, async () => {
  const sec = await createSecurity(brokerSettings(brokerSchema.parse({})), silentLogger)
  assert.deepEqual(await sec.authenticate(req('admin', 'x', { allowAnonymous: true })), { ok: true })
  assert.deepEqual(await sec.authenticate(req(undefined, undefined, { allowAnonymous: true })), { ok: true })
  const refused = await sec.authenticate(req('admin', 'x'))
  assert.equal(refused.ok, false)
  assert.equal(refused.ok === false && refused.reasonCode, 0x86)
  assert.equal(sec.admitPublish, undefined, 'no rate limit configured')
  assert.equal(sec.authorizeDelivery, undefined, 'no ACL configured: no per-delivery check')
  assert.equal(sec.authorizeSubscribe({ clientId: 'c', info: info() }, '$SYS/#', 0), true)
  assert.equal(sec.authorizePublish({ clientId: 'c', info: info() }, '$SYS/broker/x', 0, false), false, 'clients never publish $SYS')
  sec.close()
})

test('a verified certificate CN is the user name, without a password', { timeout: 10_000 }, async () => {
  const sec = await createSecurity(brokerSettings(brokerSchema.parse({})), silentLogger)
  assert.deepEqual(await sec.authenticate(req(undefined, undefined, { protocol: 'mqtts', certCommonName: 'meter-12' })), { ok: true, username: 'meter-12' })
  sec.close()
})

test('after repeated failures an address waits for its answer, on the injected clock', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'pw')
    writeFileSync(file, `alice:${await hashPassword('right', FAST)}\n`, { mode: 0o600 })
    const clock = new FakeClock(1_000_000)
    const sec = await createSecurity(brokerSettings(brokerSchema.parse({ auth: { password_file: file } })), silentLogger, clock)
    for (let i = 0; i < 3; i++) assert.equal((await sec.authenticate(req('alice', 'wrong'))).ok, false)
    let answer: AuthResult | null = null
    const pending = sec.authenticate(req('alice', 'right')).then((r) => (answer = r))
    await new Promise((r) => setImmediate(r))
    assert.equal(answer, null, 'held back while the backoff runs')
    assert.equal(clock.pending(), 1)
    clock.advance(500)
    await pending
    assert.deepEqual(answer, { ok: true, username: 'alice' })
    const other = await sec.authenticate(req('alice', 'right', { remoteAddress: '192.168.1.51' }))
    assert.deepEqual(other, { ok: true, username: 'alice' }, 'other addresses are not delayed')
    assert.equal(sec.status().details.failedLogins, 3)
    sec.close()
  } finally {
    cleanup()
  }
})

test('closing releases logins still waiting on the backoff', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'pw')
    writeFileSync(file, `alice:${await hashPassword('right', FAST)}\n`, { mode: 0o600 })
    const clock = new FakeClock()
    const sec = await createSecurity(brokerSettings(brokerSchema.parse({ auth: { password_file: file } })), silentLogger, clock)
    for (let i = 0; i < 3; i++) await sec.authenticate(req('bob', 'x'))
    const pending = sec.authenticate(req('alice', 'right'))
    await new Promise((r) => setImmediate(r))
    sec.close()
    assert.equal(clock.pending(), 0)
    assert.equal((await pending).ok, true)
  } finally {
    cleanup()
  }
})

test('revocation listeners hear about removed devices only when the tokens file changes', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'tokens')
    const a = 'a'.repeat(32)
    const b = 'b'.repeat(32)
    writeFileSync(file, `${a} dev-a\n${b} dev-b\n`, { mode: 0o600 })
    const sec = await createSecurity(brokerSettings(brokerSchema.parse({ auth: { tokens_file: file } })), silentLogger)
    const heard: unknown[] = []
    sec.onRevoke?.((who) => heard.push(who))
    assert.deepEqual(await sec.authenticate(req('Token', a)), { ok: true, deviceId: 'dev-a' })
    await sec.reload()
    assert.deepEqual(heard, [], 'an unchanged file revokes nobody')
    writeFileSync(file, `${b} dev-b\n`)
    await sec.reload()
    assert.deepEqual(heard, [[{ deviceId: 'dev-a' }]])
    assert.equal((await sec.authenticate(req('Token', a))).ok, false)
    assert.equal(sec.status().details.reloads, 2)
    sec.close()
  } finally {
    cleanup()
  }
})

test('anonymous refusals are logged but do not count towards an address backoff', { timeout: 10_000 }, async () => {
  const sec = await createSecurity(brokerSettings(brokerSchema.parse({ auth: { lockout_failures: 2 } })), silentLogger)
  for (let i = 0; i < 5; i++) assert.equal((await sec.authenticate(req(undefined, undefined))).ok, false)
  assert.deepEqual(await sec.authenticate(req(undefined, undefined, { allowAnonymous: true })), { ok: true })
  assert.equal(sec.status().details.failedLogins, 0)
  sec.close()
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hashPassword } from '../../../src/broker/auth/passwords.ts'
import { startSecureBroker, tryConnect } from './setup.ts'
import { loginStorm } from './storm-client.ts'

const FAST = { ln: 10, r: 8, p: 1 }

test('250 simultaneous wrong-password CONNECTs from one address compute at most lockout_failures password hashes', { timeout: 120_000 }, async () => {
  let hashes = 0
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtt', allow_anonymous: false }],
    // The real cost: with cheap hashes each check ends before the next CONNECT is read, hiding the race.
    passwords: `alice:${await hashPassword('alice-secret')}\n`,
    auth: { lockout_failures: 10 },
    limits: { connect_timeout: 60_000 },
    hashProbe: (d) => {
      if (d === 1) hashes++
    },
  })
  try {
    const port = sb.ports[0] as number
    const storm = await loginStorm({ port, count: 250, username: 'alice', password: 'wrong-guess' })
    const summary = JSON.stringify({ hashes, codes: [...storm.codes], noConnack: storm.noConnack })
    assert.equal(storm.codes.get(0) ?? 0, 0, summary)
    assert.equal(storm.noConnack, 0, summary)
    assert.ok(hashes <= 10, `at most lockout_failures (10) passwords checked: ${summary}`)
    assert.ok(hashes >= 1, summary)
    // The address is locked now: even the right password is refused without a hash.
    const before = hashes
    const right = await tryConnect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, clientId: 'alice', username: 'alice', password: 'alice-secret' })
    assert.equal(right.code, 5)
    assert.equal(hashes, before)
    assert.equal((sb.security.status().details as { failedLogins: number }).failedLogins, hashes)
  } finally {
    await sb.close()
  }
})

test('successful logins, in flight or done, do not count towards the lockout', { timeout: 120_000 }, async () => {
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtt', allow_anonymous: false }],
    passwords: `alice:${await hashPassword('alice-secret', FAST)}\n`,
    auth: { lockout_failures: 3 },
  })
  try {
    const url = `mqtt://127.0.0.1:${sb.ports[0]}`
    const ok = { username: 'alice', password: 'alice-secret' }
    const wrong = { username: 'alice', password: 'wrong-guess' }
    // Three at once: each is in flight while the others start, none is a failure.
    const together = await Promise.all([1, 2, 3].map((i) => tryConnect(url, { clientId: `together-${i}`, ...ok })))
    assert.deepEqual(
      together.map((r) => r.code),
      [0, 0, 0],
    )
    for (const r of together) await r.client?.endAsync()
    for (let i = 0; i < 2; i++) assert.equal((await tryConnect(url, { clientId: `guess-${i}`, ...wrong })).code, 4)
    for (let i = 0; i < 5; i++) {
      const r = await tryConnect(url, { clientId: `later-${i}`, ...ok })
      assert.equal(r.code, 0, `login ${i} after two failures`)
      await r.client?.endAsync()
    }
    assert.equal((await tryConnect(url, { clientId: 'guess-3', ...wrong })).code, 4)
    assert.equal((await tryConnect(url, { clientId: 'locked', ...ok })).code, 5, 'the third failure locks the address')
  } finally {
    await sb.close()
  }
})

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
    // A wait queue long enough for all 250, so the lockout alone has to hold them.
    auth: { lockout_failures: 10, max_waiting_logins_per_address: 1000 },
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

test('logins past an address\'s wait queue are refused at once as server busy (v5 0x89, 3.1.1 code 3), counted and logged once', { timeout: 120_000 }, async () => {
  let hashes = 0
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtt', allow_anonymous: false }],
    passwords: `alice:${await hashPassword('alice-secret')}\n`,
    auth: { lockout_failures: 1000, max_waiting_logins_per_address: 4 },
    limits: { connect_timeout: 60_000 },
    hashProbe: (d) => {
      if (d === 1) hashes++
    },
  })
  try {
    const port = sb.ports[0] as number
    const v4 = await loginStorm({ port, count: 20, username: 'alice', password: 'wrong-guess', protocolVersion: 4 })
    const v5 = await loginStorm({ port, count: 20, username: 'alice', password: 'wrong-guess', protocolVersion: 5 })
    const details = sb.security.status().details as Record<string, number>
    const summary = JSON.stringify({ hashes, v4: [...v4.codes], v5: [...v5.codes], details })
    assert.deepEqual([...v4.codes.keys()].sort(), [3, 4], summary)
    assert.deepEqual([...v5.codes.keys()].sort(), [0x86, 0x89], summary)
    const busy = (v4.codes.get(3) ?? 0) + (v5.codes.get(0x89) ?? 0)
    assert.equal(hashes + busy, 40, `every login was either checked or refused as busy: ${summary}`)
    assert.equal(details.refusedBusy, busy, summary)
    // One address: one hash at a time, at most four waiting.
    assert.equal(details.passwordChecksPeak, 1, summary)
    assert.ok(details.loginsWaitingPeak !== undefined && details.loginsWaitingPeak <= 4, summary)
    const lines = sb.logs.filter((r) => r.msg.includes('server busy'))
    assert.ok(lines.length >= 1 && lines.length < busy, `${lines.length} log lines for ${busy} busy refusals`)
  } finally {
    await sb.close()
  }
})

import assert from 'node:assert/strict'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { test } from 'node:test'
import { hashPassword } from '../../../src/broker/auth/passwords.ts'
import { storageSchema } from '../../../src/config/sections/storage.ts'
import { silentLogger } from '../../../src/core/index.ts'
import { storeOptions } from '../../../src/gateway/options/storage.ts'
import { openStore } from '../../../src/store-forward/index.ts'
import { tempDir, waitFor } from '../../helpers/tmp.ts'
import { connectOk, startSecureBroker } from './setup.ts'
import { loginStorm, loopbackHosts } from './storm-client.ts'

/**
 * A login storm must not queue the store's disk writes behind password hashes: both run on libuv's
 * thread pool. While a normal client's QoS 1 publish (bound for an offline persistent session, so its
 * PUBACK waits for the store's fsync) is pending, the hashes in the pool (submitted, not answered) are
 * watched: they never exceed max_password_checks, which leaves threads free for the store. Judged by
 * what was queued, not by how long anything took.
 */
test('during a login storm from 40 hosts, a QoS 1 PUBACK never waits behind more than max_password_checks hashes', { timeout: 180_000 }, async () => {
  const tmp = tempDir('fieldgate-storm-store-')
  const store = await openStore(storeOptions(storageSchema.parse({ data_dir: join(tmp.dir, 'data') })), silentLogger)
  let inPool = 0
  let windowMax = 0
  let hashed = 0
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtt', allow_anonymous: false }],
    passwords: `alice:${await hashPassword('alice-secret')}\n`,
    stores: { sessions: store.sessions, retained: store.retained },
    hashProbe: (d) => {
      inPool += d
      if (d === 1) hashed++
      windowMax = Math.max(windowMax, inPool)
    },
  })
  try {
    const url = `mqtt://127.0.0.1:${sb.ports[0]}`
    const alice = { username: 'alice', password: 'alice-secret' }
    const sub = await connectOk(url, { protocolVersion: 5, clientId: 'sub', clean: false, properties: { sessionExpiryInterval: 3600 }, ...alice })
    await sub.subscribeAsync('meter/#', { qos: 1 })
    await sub.endAsync()
    const pub = await connectOk(url, { protocolVersion: 5, clientId: 'pub', ...alice })
    const auth = sb.security.status().details as { passwordChecksPeak: number }
    assert.equal(auth.passwordChecksPeak, 1)

    const storm = loginStorm({ port: sb.ports[0] as number, count: 400, localAddresses: loopbackHosts(40), username: 'alice', password: 'wrong-guess', timeoutMs: 90_000 })
    await waitFor(() => inPool > 0, 30_000, 5, 'the storm to reach the password checks')
    const windows: Array<{ max: number; hashedDuring: number }> = []
    for (let i = 0; i < 40; i++) {
      windowMax = inPool
      const [atStart, before] = [inPool, hashed]
      await pub.publishAsync(`meter/${i}`, `reading ${i}`, { qos: 1 })
      windows.push({ max: windowMax, hashedDuring: atStart + hashed - before })
    }
    const result = await storm
    await pub.endAsync()
    const summary = JSON.stringify({ windows, codes: [...result.codes], noConnack: result.noConnack, auth: sb.security.status().details })
    assert.ok(
      windows.every((w) => w.max <= 2),
      `each PUBACK waited behind at most max_password_checks (2) hashes: ${summary}`,
    )
    assert.ok(
      windows.some((w) => w.hashedDuring > 0),
      `the storm was hashing while PUBACKs were pending: ${summary}`,
    )
    assert.equal(result.codes.get(0) ?? 0, 0, summary)
    assert.ok((result.codes.get(4) ?? 0) > 0, summary)

    // The acknowledged messages were stored for the session.
    const back = mqtt.connect(url, { protocolVersion: 5, clientId: 'sub', clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 0, ...alice })
    const got = new Set<string>()
    back.on('message', (topic) => got.add(topic))
    await waitFor(() => got.size === 40, 30_000, 20, `40 queued messages, got ${got.size}`)
    await back.endAsync()
  } finally {
    await sb.close()
    await store.close()
    tmp.cleanup()
  }
})

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { test } from 'node:test'
import { makeTestCerts } from '../../helpers/certs.ts'
import { waitFor } from '../../helpers/tmp.ts'
import { connectOk, startSecureBroker } from './setup.ts'

test('200 sockets that never send CONNECT do not keep a good client out, and are all dropped at the deadline', { timeout: 40_000 }, async () => {
  const certs = makeTestCerts([])
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtt' }, { protocol: 'mqtts', tls: { cert_file: certs.serverCert, key_file: certs.serverKey } }, { protocol: 'ws' }],
    limits: { connect_timeout: 3000 },
    handshakeTimeout: 3000,
  })
  const idle: Socket[] = []
  try {
    const closed = new Set<Socket>()
    for (let i = 0; i < 200; i++) {
      // Half on plain MQTT (connected, silent), a quarter on TLS (stuck before the handshake), a quarter
      // on WebSocket (stuck before the HTTP upgrade).
      const s = connect({ host: '127.0.0.1', port: sb.ports[[0, 0, 1, 2][i % 4] as number] as number })
      s.on('error', () => undefined)
      s.on('close', () => closed.add(s))
      idle.push(s)
    }
    await waitFor(() => idle.every((s) => !s.connecting), 10_000, 20, 'the idle sockets to connect')
    for (const [url, opts] of [
      [`mqtt://127.0.0.1:${sb.ports[0]}`, {}],
      [`mqtts://127.0.0.1:${sb.ports[1]}`, { ca: readFileSync(certs.caCert) }],
      [`ws://127.0.0.1:${sb.ports[2]}/mqtt`, {}],
    ] as const) {
      const good = await connectOk(url, { protocolVersion: 5, clientId: `good-${url.split(':')[0]}`, ...opts })
      const got = new Promise<string>((resolve) => good.once('message', (_t, p) => resolve(p.toString())))
      await good.subscribeAsync('loris/check', { qos: 1 })
      await good.publishAsync('loris/check', 'still served', { qos: 1 })
      assert.equal(await got, 'still served')
      await good.endAsync()
    }
    assert.ok(closed.size < 200, 'the good clients were served while the idle sockets were still open')
    await waitFor(() => closed.size === 200, 15_000, 50, 'every idle socket to be dropped')
    const hits = (sb.broker.status().details as { limitHits?: Record<string, number> }).limitHits ?? {}
    // Only the plain MQTT sockets reach the broker; TLS and WebSocket ones are dropped by their listener.
    assert.ok((hits.connect_timeout ?? 0) >= 100, `connect_timeout counted in status: ${JSON.stringify(hits)}`)
  } finally {
    for (const s of idle) s.destroy()
    await sb.close()
    certs.cleanup()
  }
})

test('a client at its publish rate is held back while another client keeps getting through', { timeout: 40_000 }, async () => {
  const sb = await startSecureBroker({ listeners: [{ protocol: 'mqtt' }], limits: { publish_rate: 100, publish_burst: 20 } })
  try {
    const url = `mqtt://127.0.0.1:${sb.ports[0]}`
    const sub = await connectOk(url, { protocolVersion: 5, clientId: 'watcher' })
    const flood: string[] = []
    const good: string[] = []
    sub.on('message', (topic, p) => (topic === 'flood' ? flood : good).push(p.toString()))
    await sub.subscribeAsync({ flood: { qos: 0 }, good: { qos: 1 } })
    const flooder = await connectOk(url, { protocolVersion: 4, clientId: 'flooder' })
    const other = await connectOk(url, { protocolVersion: 4, clientId: 'other' })
    // Round 1 is read in one go and puts the flooder ~2.8 s into debt: its socket is paused.
    await Promise.all(Array.from({ length: 300 }, (_, i) => flooder.publishAsync('flood', `r1-${i}`, { qos: 0 })))
    await waitFor(() => flood.length === 300, 10_000, 10, 'round 1')
    // Round 2 waits in the paused socket; the other client's messages must overtake it.
    await Promise.all(Array.from({ length: 100 }, (_, i) => flooder.publishAsync('flood', `r2-${i}`, { qos: 0 })))
    for (let i = 0; i < 20; i++) await other.publishAsync('good', `g-${i}`, { qos: 1 })
    await waitFor(() => good.length === 20, 10_000, 10, 'the other client')
    assert.equal(flood.length, 300, 'none of round 2 got ahead of the other client')
    assert.deepEqual(
      good,
      Array.from({ length: 20 }, (_, i) => `g-${i}`),
    )
    await waitFor(() => flood.length === 400, 15_000, 20, 'round 2 after the pause')
    assert.deepEqual(flood.slice(300, 303), ['r2-0', 'r2-1', 'r2-2'], 'held back, not dropped or reordered')
    assert.equal(flooder.connected, true)
    assert.ok(Number(sb.security.status().details.publishRateLimited) > 0)
    await Promise.all([sub.endAsync(), flooder.endAsync(), other.endAsync()])
  } finally {
    await sb.close()
  }
})

test('a v5 client far over its publish rate is disconnected with 0x96', { timeout: 40_000 }, async () => {
  const sb = await startSecureBroker({ listeners: [{ protocol: 'mqtt' }], limits: { publish_rate: 50, publish_burst: 10 } })
  try {
    const c = await connectOk(`mqtt://127.0.0.1:${sb.ports[0]}`, { protocolVersion: 5, clientId: 'firehose' })
    let reason: number | undefined
    c.on('disconnect', (p) => (reason = p.reasonCode))
    // 1,000 publishes at 50/s is 20 s of debt, past the 10 s the limiter tolerates.
    for (let i = 0; i < 1000 && c.connected; i++) c.publish('firehose', `m-${i}`, { qos: 0 })
    await waitFor(() => reason !== undefined, 20_000, 20, 'the rate disconnect')
    assert.equal(reason, 0x96)
    assert.ok(Number(sb.security.status().details.publishRateRefused) >= 1)
    c.end(true)
  } finally {
    await sb.close()
  }
})

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { MESSAGE_ID_PROPERTY, TIMESTAMP_PROPERTY } from '../../src/bridge/index.ts'
import { isFieldgateError, type QueueStats } from '../../src/core/index.ts'
import { startFaultProxy } from '../helpers/fault-proxy.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { waitFor } from '../helpers/tmp.ts'
import { FakeLocalBroker, sleep, startUplink, waitForValue, waitOnline, watch } from './fixtures.ts'

let mq: MosquittoHandle

before(async () => {
  mq = await startMosquitto()
})
after(async () => {
  await mq.stop()
})

test('a QoS 1 publish resolves on the PUBACK and arrives upstream with a stable id and the original time', { timeout: 15_000 }, async () => {
  const w = await watch(mq.port, ['plant/#'])
  const u = startUplink({ name: 'a1', url: `mqtt://127.0.0.1:${mq.port}`, forward: [{ filter: 'line/#', remote: 'plant/{gateway}/{topic}' }] })
  try {
    await waitOnline(u)
    const m = u.outbound({ topic: 'line/temp', payload: Buffer.from('21.5'), qos: 1, retain: false, receivedAt: 1234 })
    assert.ok(m)
    await u.publish(m)
    assert.ok(u.status().details.lastAckAt, 'last upstream ack time recorded')
    const got = await waitForValue(() => w.got.find((g) => g.topic === 'plant/gw1/line/temp'), 3000)
    assert.equal(got.payload, '21.5')
    const up = got.props?.userProperties as Record<string, string> | undefined
    assert.equal(up?.[TIMESTAMP_PROPERTY], '1234')
    assert.equal(up?.[MESSAGE_ID_PROPERTY], m.properties?.userProperties?.[MESSAGE_ID_PROPERTY])
  } finally {
    await u.stop()
    await w.close()
  }
})

test('QoS 2 and QoS 0 publishes resolve and arrive upstream', { timeout: 15_000 }, async () => {
  const w = await watch(mq.port, ['q/#'])
  const u = startUplink({ name: 'a2', url: `mqtt://127.0.0.1:${mq.port}`, protocol_version: 4 })
  try {
    await waitOnline(u)
    await u.publish({ topic: 'q/two', payload: Buffer.from('2'), qos: 2, retain: false })
    await u.publish({ topic: 'q/zero', payload: Buffer.from('0'), qos: 0, retain: false })
    await waitFor(() => w.got.some((g) => g.topic === 'q/two') && w.got.some((g) => g.topic === 'q/zero'), 3000)
  } finally {
    await u.stop()
    await w.close()
  }
})

test('birth "online" is retained after connect; a graceful stop publishes "offline" once and the Will does not fire', { timeout: 15_000 }, async () => {
  const u = startUplink({ name: 'b1', url: `mqtt://127.0.0.1:${mq.port}`, will: { topic: 'gw/b1/status' } })
  await waitOnline(u)
  const w = await watch(mq.port, ['gw/b1/status'])
  try {
    const birth = await waitForValue(() => w.got.find((g) => g.payload === 'online'), 3000)
    assert.equal(birth.retain, true, 'birth delivered as retained to a late subscriber')
    await u.stop()
    assert.equal(u.status().details.state, 'offline')
    await waitFor(() => w.got.some((g) => g.payload === 'offline'), 3000)
    await sleep(500)
    assert.equal(w.got.filter((g) => g.payload === 'offline').length, 1, 'one offline: ours, not the Will as well')
  } finally {
    await u.stop()
    await w.close()
  }
})

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 5 ? '5' : '3.1.1'}: a late Will on the status topic while online (a broker cluster publishing a dead node's Wills after the uplink failed over) is answered with the birth again; a retained "offline" from before the connect is not`, { timeout: 15_000 }, async () => {
    const topic = `gw/late${version}/status`
    const w = await watch(mq.port, [topic])
    await w.client.publishAsync(topic, 'offline', { qos: 1, retain: true })
    const u = startUplink({ name: `late${version}`, url: `mqtt://127.0.0.1:${mq.port}`, protocol_version: version, will: { topic } })
    try {
      await waitOnline(u)
      const births = (): number => w.got.filter((g) => g.payload === 'online').length
      await waitFor(() => births() === 1, 3000, 10, 'the birth')
      await sleep(300)
      assert.equal(births(), 1, 'the retained "offline" that came with the subscription predates the birth: no second birth')
      // What the surviving node of a cluster does: the Will, retained, after the uplink said online.
      await w.client.publishAsync(topic, 'offline', { qos: 1, retain: true })
      await waitFor(() => births() === 2, 3000, 10, 'the birth again')
      const late = await watch(mq.port, [topic])
      try {
        const retained = await waitForValue(() => late.got.find((g) => g.retain), 3000, 'the retained status')
        assert.equal(retained.payload, 'online')
      } finally {
        await late.close()
      }
    } finally {
      await u.stop()
      await w.close()
    }
  })
}

test('publish rejects with BRIDGE_OFFLINE when offline and when the link drops before the acknowledgement', { timeout: 20_000 }, async () => {
  const proxy = await startFaultProxy(mq.port)
  const u = startUplink({ name: 'r1', url: `mqtt://127.0.0.1:${proxy.port}`, probe: { interval: 0 } })
  try {
    await assert.rejects(u.publish({ topic: 'x', payload: Buffer.from('1'), qos: 1, retain: false }), (e: unknown) => isFieldgateError(e, 'BRIDGE_OFFLINE'))
    await waitOnline(u)
    proxy.delay(400)
    const p = u.publish({ topic: 'x/slow', payload: Buffer.from('1'), qos: 1, retain: false })
    await sleep(50)
    proxy.cut()
    await assert.rejects(p, (e: unknown) => isFieldgateError(e, 'BRIDGE_OFFLINE'))
    proxy.restore()
    let onlineCalls = 0
    const off = u.onOnline(() => onlineCalls++)
    await waitOnline(u)
    off()
    assert.equal(onlineCalls, 1, 'onOnline fires when the link is back')
    await u.publish({ topic: 'x/again', payload: Buffer.from('2'), qos: 1, retain: false })
    assert.equal(u.status().details.reconnects, 1)
  } finally {
    await u.stop()
    await proxy.close()
  }
})

test('Mosquitto killed and restarted: the uplink backs off, reconnects and sends its birth again', { timeout: 30_000 }, async () => {
  const m2 = await startMosquitto()
  const port = m2.port
  const u = startUplink({ name: 'k1', url: `mqtt://127.0.0.1:${port}`, backoff: { min: '100ms', max: '800ms' }, will: { topic: 'gw/k1/status' } })
  let m3: MosquittoHandle | null = null
  try {
    await waitOnline(u)
    await m2.stop('SIGKILL')
    await waitFor(() => u.status().details.state === 'backoff', 5000)
    const attemptsBefore = u.status().details.attempts as number
    await sleep(1500)
    const attemptsDown = (u.status().details.attempts as number) - attemptsBefore
    assert.ok(attemptsDown >= 1 && attemptsDown <= 15, `kept retrying with backoff while down (${attemptsDown} attempts in 1.5 s)`)
    assert.equal(u.status().health, 'degraded')
    assert.match(String(u.status().details.lastError), /ECONNREFUSED|closed/)
    m3 = await startMosquitto({ port })
    await waitOnline(u, 10_000)
    // The restarted broker has no retained state (persistence off), so a retained "online" proves a fresh birth.
    const w = await watch(port, ['gw/k1/status'])
    await waitFor(() => w.got.some((g) => g.payload === 'online' && g.retain), 3000)
    await w.close()
    assert.equal(u.status().details.reconnects, 1)
  } finally {
    await u.stop()
    await m3?.stop()
    await m2.stop()
  }
})

test('servers in the failover list are tried in turn', { timeout: 15_000 }, async () => {
  const dead = await freePort()
  const u = startUplink({ name: 'f1', url: `mqtt://127.0.0.1:${dead}`, servers: [`mqtt://127.0.0.1:${mq.port}`] })
  try {
    await waitOnline(u)
    assert.equal(u.status().details.server, `mqtt://127.0.0.1:${mq.port}`)
    assert.ok((u.status().details.attempts as number) >= 2)
  } finally {
    await u.stop()
  }
})

test('downlink commands arrive locally, remapped, tagged with the bridge origin', { timeout: 15_000 }, async () => {
  const local = new FakeLocalBroker()
  const u = startUplink(
    { name: 'd1', url: `mqtt://127.0.0.1:${mq.port}`, downlink: [{ remote_filter: 'cmd/gw1/#', strip_prefix: 'cmd/gw1/', local: 'devices/{topic}' }] },
    local,
  )
  const w = await watch(mq.port, [])
  try {
    await waitOnline(u)
    await w.client.publishAsync('cmd/gw1/pump/set', '1', { qos: 1 })
    await w.client.publishAsync('cmd/gw2/pump/set', '9', { qos: 1 })
    const got = await waitForValue(() => local.published.find((m) => m.topic === 'devices/pump/set'), 3000)
    assert.equal(got.payload.toString(), '1')
    assert.equal(got.origin, '$bridge:d1')
    assert.equal(got.qos, 1)
    await sleep(200)
    assert.equal(local.published.filter((m) => m.topic.startsWith('devices/')).length, 1, 'other gateways\u2019 commands are not ours')
  } finally {
    await u.stop()
    await w.close()
  }
})

test('status reports state, since, RTT from the probe and the server, and mirrors them to $SYS topics', { timeout: 15_000 }, async () => {
  const local = new FakeLocalBroker()
  const queueStats = (): QueueStats => ({ depth: 7, bytes: 700, oldestEnqueuedAt: Date.now() - 1500, appended: 7, acked: 0, dropped: 0, rejected: 0, lastError: null })
  const u = startUplink({ name: 's1', url: `mqtt://127.0.0.1:${mq.port}`, probe: { interval: '200ms', timeout: '1s' } }, local, 'gw1', { queueStats, healthInterval: 100 })
  try {
    await waitOnline(u)
    await waitFor(() => u.status().details.rttMs !== null, 3000)
    const s = u.status()
    assert.equal(s.health, 'ok')
    assert.equal(s.details.state, 'online')
    assert.equal(typeof s.details.rttMs, 'number')
    assert.ok(!Number.isNaN(Date.parse(String(s.details.since))))
    assert.equal(local.retained.get('$SYS/fieldgate/bridge/s1/state')?.payload.toString(), 'online')
    await waitFor(() => local.retained.has('$SYS/fieldgate/bridge/s1/rtt'), 3000)
    assert.equal(local.retained.get('$SYS/fieldgate/bridge/s1/state')?.origin, '$bridge:s1')
    assert.equal(s.details.backlog, 7, 'backlog depth from the queue')
    assert.ok((s.details.oldestAgeMs as number) >= 1500)
    assert.equal(local.retained.get('$SYS/fieldgate/bridge/s1/backlog')?.payload.toString(), '7')
    assert.ok(local.retained.has('$SYS/fieldgate/bridge/s1/oldest_age'))
  } finally {
    await u.stop()
  }
  assert.equal(local.retained.get('$SYS/fieldgate/bridge/s1/state')?.payload.toString(), 'offline')
  assert.equal(u.status().health, 'down')
})

test('an MQTT 5 server\u2019s Receive Maximum, Maximum QoS and Retain Available are respected without reordering', { timeout: 20_000 }, async () => {
  const strict = await startMosquitto({ extra: ['max_inflight_messages 5', 'max_qos 1', 'retain_available false'] })
  const w = await watch(strict.port, ['lim/#'])
  const u = startUplink({ name: 'l1', url: `mqtt://127.0.0.1:${strict.port}`, will: { retain: false }, birth: { retain: false } })
  try {
    await waitOnline(u)
    const all = Array.from({ length: 40 }, (_, i) => u.publish({ topic: `lim/${i}`, payload: Buffer.from(String(i)), qos: 2, retain: i === 0 }))
    assert.ok((u.status().details.inflight as number) <= 5, 'no more than Receive Maximum unacknowledged')
    await Promise.all(all)
    await waitFor(() => w.got.length === 40, 3000)
    assert.deepEqual(
      w.got.map((g) => g.topic),
      Array.from({ length: 40 }, (_, i) => `lim/${i}`),
    )
    assert.equal(u.online, true, 'the server never had to disconnect us')
    assert.equal(u.status().details.reconnects, 0)
  } finally {
    await u.stop()
    await w.close()
    await strict.stop()
  }
})

test('a v5 message leaves with the lifetime it has left after queueing, and one that expired in the queue is dropped', { timeout: 15_000 }, async () => {
  const w = await watch(mq.port, ['exp/#'])
  const u = startUplink({ name: 'e1', url: `mqtt://127.0.0.1:${mq.port}` })
  try {
    await waitOnline(u)
    const now = Date.now()
    await u.publish({ topic: 'exp/gone', payload: Buffer.from('old'), qos: 1, retain: false, receivedAt: now - 120_000, properties: { messageExpiryInterval: 60 } })
    await u.publish({ topic: 'exp/left', payload: Buffer.from('young'), qos: 1, retain: false, receivedAt: now - 20_000, properties: { messageExpiryInterval: 60 } })
    const got = await waitForValue(() => w.got.find((g) => g.topic === 'exp/left'), 3000)
    const left = got.props?.messageExpiryInterval as number
    assert.ok(left <= 40 && left > 30, `remaining expiry ${left} s`)
    assert.equal(w.got.filter((g) => g.topic === 'exp/gone').length, 0)
    assert.equal(u.status().details.expired, 1)
  } finally {
    await u.stop()
    await w.close()
  }
})

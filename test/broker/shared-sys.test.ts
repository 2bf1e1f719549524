import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker({ sysInterval: 200, version: '9.8.7-test' })
})
after(async () => {
  await tb.close()
})

for (const protocolVersion of [4, 5] as const) {
  test(`v${protocolVersion}: a shared subscription spreads messages round-robin over the group`, { timeout: 10_000 }, async () => {
    const filter = `$share/workers/jobs/${protocolVersion}/+`
    const a = await connectClient(tb.port, { protocolVersion })
    const b = await connectClient(tb.port, { protocolVersion })
    const gotA = collect(a)
    const gotB = collect(b)
    await a.subscribeAsync(filter, { qos: 1 })
    await b.subscribeAsync(filter, { qos: 1 })
    const plain = await connectClient(tb.port, { protocolVersion })
    const gotPlain = collect(plain)
    await plain.subscribeAsync(`jobs/${protocolVersion}/+`, { qos: 1 })
    const p = await connectClient(tb.port, { protocolVersion })
    for (let i = 0; i < 10; i++) await p.publishAsync(`jobs/${protocolVersion}/x`, String(i), { qos: 1 })
    await waitFor(() => gotA.length + gotB.length === 10 && gotPlain.length === 10, 5000, 10, 'all jobs')
    assert.equal(gotA.length, 5)
    assert.equal(gotB.length, 5)
    await Promise.all([endClient(a), endClient(b), endClient(plain), endClient(p)])
  })
}

test('a shared group skips members that went offline', { timeout: 10_000 }, async () => {
  const a = await connectClient(tb.port, { protocolVersion: 5 })
  const b = await connectClient(tb.port, { protocolVersion: 5 })
  const gotA = collect(a)
  await a.subscribeAsync('$share/g2/work', { qos: 1 })
  await b.subscribeAsync('$share/g2/work', { qos: 1 })
  await endClient(b)
  const p = await connectClient(tb.port, { protocolVersion: 5 })
  for (let i = 0; i < 4; i++) await p.publishAsync('work', String(i), { qos: 1 })
  await waitFor(() => gotA.length === 4, 5000, 10, 'all to the online member')
  await Promise.all([endClient(a), endClient(p)])
})

test('$SYS/broker statistics are published on the interval', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(c)
  await c.subscribeAsync('$SYS/broker/#')
  await waitFor(() => got.some((g) => g.topic === '$SYS/broker/clients/connected') && got.some((g) => g.topic === '$SYS/broker/uptime'), 5000, 20, '$SYS topics')
  const topics = new Set(got.map((g) => g.topic))
  for (const t of ['messages/received', 'messages/sent', 'bytes/received', 'bytes/sent', 'subscriptions/count', 'retained messages/count']) {
    assert.ok(topics.has(`$SYS/broker/${t}`), t)
  }
  // the retained value predates this client; a later publication counts it
  await waitFor(() => got.some((g) => g.topic === '$SYS/broker/clients/connected' && Number(g.payload) >= 1), 5000, 20, 'a live client count')
  await endClient(c)
})

test('$SYS/broker/version names the version the broker was given', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(c)
  await c.subscribeAsync('$SYS/broker/version')
  await waitFor(() => got.length > 0, 5000, 20, '$SYS/broker/version')
  assert.equal(got[0]?.payload, 'fieldgate 9.8.7-test')
  await endClient(c)
})

test('$SYS topics are not matched by a # subscription', { timeout: 10_000 }, async () => {
  const c = await connectClient(tb.port, { protocolVersion: 4 })
  const got = collect(c)
  await c.subscribeAsync('#')
  await sleep(500)
  assert.equal(
    got.filter((g) => g.topic.startsWith('$SYS')).length,
    0,
  )
  await endClient(c)
})

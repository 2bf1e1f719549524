import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { IPublishPacket } from 'mqtt-packet'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, connectCollect, endClient, sleep, startBroker, type TestBroker } from './helpers.ts'

let tb: TestBroker
before(async () => {
  tb = await startBroker({ limits: { max_retained: 2 } })
})
after(async () => {
  await tb.close()
})

function details(): { retained: number; limitHits: Record<string, number> } {
  return tb.broker.status().details as { retained: number; limitHits: Record<string, number> }
}

/** The reason code of the acknowledgement MQTT.js receives for one publish (0 when omitted). */
async function ackCode(c: Awaited<ReturnType<typeof connectClient>>, topic: string, payload: string, qos: 1 | 2): Promise<number> {
  const pkt = (await c.publishAsync(topic, payload, { qos, retain: true }).catch((err: unknown) => {
    const code = (err as { code?: number }).code
    if (typeof code === 'number') return { reasonCode: code }
    throw err
  })) as (IPublishPacket & { reasonCode?: number }) | { reasonCode: number } | undefined
  return pkt?.reasonCode ?? 0
}

test('v5: once max_retained is reached a new retained topic is answered 0x97 (PUBACK and PUBREC), counted, and not delivered; replacing and clearing still work', async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 5 })
  const seen = collect(watcher)
  await watcher.subscribeAsync('full/#', { qos: 2 })
  const p = await connectClient(tb.port, { protocolVersion: 5 })
  // MQTT.js reports a reason code >= 0x80 as an error carrying the code
  const codes: number[] = []
  p.on('packetreceive', (pkt) => {
    if (pkt.cmd === 'puback' || pkt.cmd === 'pubrec') codes.push((pkt as { reasonCode?: number }).reasonCode ?? 0)
  })
  await ackCode(p, 'full/a', 'a', 1)
  await ackCode(p, 'full/b', 'b', 1)
  const before = details().limitHits.retained ?? 0
  await ackCode(p, 'full/c', 'c', 1)
  await ackCode(p, 'full/d', 'd', 2)
  await ackCode(p, 'full/a', 'a2', 1) // replaces an existing topic: room is not needed
  await waitFor(() => codes.length === 5, 3000, 10, 'five acknowledgements')
  assert.deepEqual(codes, [0, 0, 0x97, 0x97, 0])
  assert.equal(details().retained, 2)
  assert.equal((details().limitHits.retained ?? 0) - before, 2)
  await sleep(50)
  assert.deepEqual(
    seen.map((s) => s.topic),
    ['full/a', 'full/b', 'full/a'],
    'refused messages are not routed either: the publisher was told they were not accepted',
  )
  // an empty retained payload clears a topic, and then a new one fits
  await ackCode(p, 'full/b', '', 1)
  await ackCode(p, 'full/c', 'c', 1)
  await waitFor(() => codes.length === 7, 3000, 10, 'seven acknowledgements')
  assert.deepEqual(codes.slice(5), [0, 0])
  await Promise.all([endClient(watcher), endClient(p)])
})

test('3.1.1: a retained publish beyond max_retained is acknowledged and delivered to current subscribers but not retained, and counted', async () => {
  const watcher = await connectClient(tb.port, { protocolVersion: 4 })
  const seen = collect(watcher)
  await watcher.subscribeAsync('old/#', { qos: 1 })
  const p = await connectClient(tb.port, { protocolVersion: 4 })
  const before = details().limitHits.retained ?? 0
  await p.publishAsync('old/x', 'x', { qos: 1, retain: true })
  await waitFor(() => seen.length === 1, 3000, 10, 'live delivery')
  assert.equal((details().limitHits.retained ?? 0) - before, 1)
  assert.equal(p.connected, true, 'the 3.1.1 publisher stays connected')
  const { client, got } = await connectCollect(tb.port, { protocolVersion: 4 })
  await client.subscribeAsync('old/#', { qos: 1 })
  await sleep(100)
  assert.deepEqual(got, [], 'not retained')
  await Promise.all([endClient(watcher), endClient(p), endClient(client)])
})

test('status and $SYS show how many retained messages were refused', async () => {
  const { client, got } = await connectCollect(tb.port, { protocolVersion: 5 })
  await client.subscribeAsync('$SYS/broker/retained messages/refused', { qos: 0 })
  ;(tb.broker as unknown as { sys: { publishOnce(): void } }).sys.publishOnce()
  await waitFor(() => got.length > 0, 3000, 10, '$SYS refused count')
  assert.equal(got.at(-1)?.payload, String(details().limitHits.retained))
  assert.ok((details().limitHits.retained ?? 0) >= 3)
  await endClient(client)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { silentLogger, type Message, type Sink } from '../../src/core/index.ts'
import { Forwarder, openStore } from '../../src/store-forward/index.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'

const sink = (publish: (m: Message) => Promise<void>): Sink => ({ online: true, onOnline: () => () => undefined, publish })

test('a new forwarder on a queue another one read starts at the oldest unacknowledged entry (uplink rebuilt by a reload)', { timeout: 15_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  try {
    const q = await store.openQueue('up')
    for (let i = 0; i < 20; i++) await q.append([{ topic: 't', payload: Buffer.from(String(i)), qos: 1, retain: false }])
    // The old forwarder reads ahead and has a window in flight that the cloud never acknowledges.
    let sentByOld = 0
    const old = new Forwarder({
      queue: q,
      sink: sink(() => {
        sentByOld++
        return new Promise<void>(() => undefined)
      }),
      window: 4,
    })
    old.start()
    await waitFor(() => sentByOld === 4, 5000, 10, 'the old forwarder filled its window')
    await old.stop()
    const got: string[] = []
    const next = new Forwarder({ queue: await store.openQueue('up'), sink: sink(async (m) => void got.push(m.payload.toString())), window: 4 })
    next.start()
    await waitFor(() => got.length >= 20, 5000, 10, 'all 20 entries sent by the new forwarder')
    await next.stop()
    assert.deepEqual(got.slice(0, 20), Array.from({ length: 20 }, (_, i) => String(i)))
    await waitFor(() => q.stats().depth === 0, 5000, 10, 'queue drained')
  } finally {
    await store.close()
    cleanup()
  }
})

test('a QoS 0 message never overtakes a QoS 1 message accepted before it', { timeout: 15_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const store = await openStore(storeOptionsFor(dir), silentLogger)
  try {
    const order: string[] = []
    const f = new Forwarder({ queue: await store.openQueue('up'), sink: sink(async (m) => void order.push(m.payload.toString())), window: 32 })
    f.start()
    // one publisher's packets from one TCP read: QoS 1, QoS 0, QoS 1 in the same turn
    await Promise.all(['A', 'B', 'C'].map((p, i) => f.accept({ topic: 't', payload: Buffer.from(p), qos: i === 1 ? 0 : 1, retain: false })))
    await waitFor(() => order.length === 3, 5000, 10, 'three messages upstream')
    assert.deepEqual(order, ['A', 'B', 'C'])
    await f.stop()
  } finally {
    await store.close()
    cleanup()
  }
})

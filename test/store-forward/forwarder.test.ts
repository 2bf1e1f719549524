import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock, silentLogger, systemClock, type Message, type Sink } from '../../src/core/index.ts'
import { Forwarder, LevelQueue, MemoryQueue, type SequencedQueue } from '../../src/store-forward/index.ts'
import { LevelHandle } from '../../src/store-forward/db.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { msg } from './queue-conformance.ts'
import { seededRandom } from '../../src/core/random.ts'


/**
 * A fake uplink. `received` is what the cloud got. With `failRate`, a publish sometimes drops the
 * connection: either before the cloud got the message or after (the PUBACK is lost → a duplicate).
 */
class FakeSink implements Sink {
  online: boolean
  received: Message[] = []
  reconnects = 0
  gate: Promise<void> | null = null
  private readonly cbs = new Set<() => void>()

  constructor(
    online = true,
    private readonly rand: () => number = () => 1,
    private readonly failRate = 0,
  ) {
    this.online = online
  }

  async publish(m: Message): Promise<void> {
    // Like TCP: a publish written on a connection is lost with it, never carried to the next one.
    const epoch = this.reconnects
    if (!this.online) throw new Error('uplink offline')
    await new Promise((r) => setImmediate(r))
    if (this.gate) await this.gate
    if (!this.online || epoch !== this.reconnects) throw new Error('connection lost')
    if (this.rand() < this.failRate) {
      if (this.rand() < 0.5) this.received.push(m) // delivered, ack lost
      this.drop()
      throw new Error('connection lost')
    }
    this.received.push(m)
  }

  onOnline(cb: () => void): () => void {
    this.cbs.add(cb)
    return () => this.cbs.delete(cb)
  }

  drop(): void {
    if (!this.online) return
    this.online = false
    setTimeout(() => this.up(), 2)
  }

  up(): void {
    this.online = true
    this.reconnects++
    for (const cb of this.cbs) cb()
  }
}

const memQueue = (clock = systemClock): MemoryQueue => new MemoryQueue('up', { maxBytes: 1e9, maxAge: 0, policy: 'drop-oldest', clock })

async function levelQueue(): Promise<{ q: LevelQueue; close: () => Promise<void> }> {
  const { dir, cleanup } = tempDir('fieldgate-fwd-')
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const q = await LevelQueue.open('up', h, { maxBytes: 1e9, maxAge: 0, policy: 'drop-oldest', groupCommitWindow: 1, maxBatch: 1000, clock: systemClock, logger: silentLogger })
  return { q, close: async () => (await q.close(), await h.close(), cleanup()) }
}

const topics = (ms: Message[]): string[] => ms.map((m) => m.topic)
const ticks = async (n = 20): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r))
}

for (const kind of ['MemoryQueue', 'LevelQueue'] as const) {
  test(`with a ${kind}, a sink that fails randomly and reconnects gets every message in order, duplicates bounded by the window`, { timeout: 40_000 }, async () => {
    const lq = kind === 'LevelQueue' ? await levelQueue() : null
    const queue: SequencedQueue = lq?.q ?? memQueue()
    const sink = new FakeSink(true, seededRandom(42), 0.03)
    const window = 8
    const fwd = new Forwarder({ queue, sink, window, logger: silentLogger })
    fwd.start()
    const n = 1500
    for (let b = 0; b < n / 50; b++) await Promise.all(Array.from({ length: 50 }, (_, i) => fwd.accept(msg(b * 50 + i))))
    await waitFor(() => queue.stats().depth === 0 && new Set(topics(sink.received)).size === n, 30_000, 10, 'the backlog to drain')
    const firstSeen = [...new Set(topics(sink.received))]
    assert.deepEqual(firstSeen, Array.from({ length: n }, (_, i) => `sensors/${i}`))
    assert.ok(sink.reconnects > 5, `only ${sink.reconnects} reconnects: the test did not exercise failures`)
    const duplicates = sink.received.length - n
    assert.ok(duplicates <= window * sink.reconnects, `${duplicates} duplicates over ${sink.reconnects} reconnects`)
    // After each reconnect the cloud sees the stream resume at or before where it stopped, never skip ahead.
    let hi = -1
    for (const m of sink.received) {
      const i = Number(m.topic.split('/')[1])
      assert.ok(i <= hi + 1, `sensors/${i} arrived before sensors/${hi + 1}`)
      hi = Math.max(hi, i)
    }
    await fwd.stop()
    await lq?.close()
  })
}

test('messages accepted while the uplink is offline are held durably and sent oldest first when it returns', { timeout: 20_000 }, async () => {
  const { q, close } = await levelQueue()
  const sink = new FakeSink(false)
  const fwd = new Forwarder({ queue: q, sink, window: 4 })
  fwd.start()
  for (let i = 0; i < 30; i++) await fwd.accept(msg(i, { qos: i % 3 === 0 ? 0 : 1 }))
  assert.equal(q.stats().depth, 30)
  assert.equal(fwd.status().health, 'degraded')
  sink.up()
  await waitFor(() => sink.received.length === 30 && q.stats().depth === 0, 10_000, 5, 'the drain')
  assert.deepEqual(topics(sink.received), Array.from({ length: 30 }, (_, i) => `sensors/${i}`))
  await fwd.stop()
  await close()
})

for (const mode of ['backlog-first', 'live-first'] as const) {
  test(`${mode}: a message accepted during a backlog replay is sent ${mode === 'live-first' ? 'before' : 'after'} the remaining backlog, and only once`, { timeout: 20_000 }, async () => {
    const queue = memQueue()
    const sink = new FakeSink(false)
    const fwd = new Forwarder({ queue, sink, window: 1, mode })
    fwd.start()
    for (let i = 0; i < 5; i++) await fwd.accept(msg(i))
    let release: () => void = () => undefined
    sink.gate = new Promise<void>((r) => (release = r))
    sink.up()
    await ticks()
    await fwd.accept(msg(100))
    sink.gate = null
    release()
    await waitFor(() => sink.received.length === 6 && queue.stats().depth === 0, 10_000, 5, 'the drain')
    const expected = mode === 'live-first' ? [0, 100, 1, 2, 3, 4] : [0, 1, 2, 3, 4, 100]
    assert.deepEqual(topics(sink.received), expected.map((i) => `sensors/${i}`))
    await ticks()
    assert.equal(sink.received.length, 6)
    await fwd.stop()
  })
}

test('backlog replay is paced by replayRate while live messages are not', { timeout: 20_000 }, async () => {
  const clock = new FakeClock(0)
  const queue = memQueue(clock)
  const sink = new FakeSink(false)
  const fwd = new Forwarder({ queue, sink, window: 32, replayRate: 2, clock })
  fwd.start()
  for (let i = 0; i < 6; i++) await fwd.accept(msg(i))
  clock.advance(1000)
  sink.up()
  await ticks()
  assert.equal(sink.received.length, 1)
  clock.advance(500)
  await ticks()
  assert.equal(sink.received.length, 2)
  clock.advance(1000)
  await ticks()
  assert.equal(sink.received.length, 4)
  clock.advance(1000)
  await ticks()
  assert.equal(sink.received.length, 6)
  await fwd.accept(msg(6))
  await fwd.accept(msg(7))
  await ticks()
  assert.equal(sink.received.length, 8, 'entries queued after the uplink came online are not paced')
  assert.deepEqual(topics(sink.received), Array.from({ length: 8 }, (_, i) => `sensors/${i}`))
  await fwd.stop()
})

test('QoS 0 goes straight to an online sink with an empty queue and spills to the queue while offline', { timeout: 20_000 }, async () => {
  const queue = memQueue()
  const sink = new FakeSink(true)
  const fwd = new Forwarder({ queue, sink, window: 4 })
  fwd.start()
  await fwd.accept(msg(1, { qos: 0 }))
  assert.equal(queue.stats().appended, 0)
  await waitFor(() => sink.received.length === 1, 5000, 5, 'direct delivery')
  sink.online = false
  await fwd.accept(msg(2, { qos: 0 }))
  assert.equal(queue.stats().depth, 1)
  sink.up()
  await waitFor(() => sink.received.length === 2 && queue.stats().depth === 0, 5000, 5, 'spilled delivery')
  assert.equal(fwd.status().details.direct, 1)
  await fwd.stop()
})

test('a QoS 1 accept resolves only once the entry is in the queue, and stop flushes a pending group commit', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-fwd-')
  const h = await LevelHandle.open(dir, silentLogger, systemClock)
  const q = await LevelQueue.open('up', h, { maxBytes: 1e9, maxAge: 0, policy: 'drop-oldest', groupCommitWindow: 10_000, maxBatch: 1000, clock: systemClock, logger: silentLogger })
  const sink = new FakeSink(false)
  const fwd = new Forwarder({ queue: q, sink })
  fwd.start()
  let resolved = false
  const p = fwd.accept(msg(1)).then(() => (resolved = true))
  await ticks()
  assert.equal(resolved, false)
  assert.equal(q.stats().depth, 0)
  await fwd.stop()
  await p
  assert.equal(q.stats().depth, 1)
  await q.close()
  await h.close()
  cleanup()
})

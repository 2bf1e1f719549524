import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock, isFieldgateError, type Message } from '../../src/core/index.ts'
import type { BudgetPolicy, SequencedQueue } from '../../src/store-forward/index.ts'

export interface QueueHarness {
  queue: SequencedQueue
  /** Closes and reopens the same storage; absent for queues that do not persist. */
  reopen?: () => Promise<SequencedQueue>
  cleanup: () => Promise<void>
}

export interface QueueFactoryOptions {
  maxBytes?: number
  maxAge?: number
  policy?: BudgetPolicy
  clock?: FakeClock
}

export type QueueFactory = (o: QueueFactoryOptions) => Promise<QueueHarness>

/** What an implementation declares it can do (as abstract-level's `supports` manifest). */
export interface Supports {
  /** Its contents survive closing and opening the same storage again (the harness has `reopen`). */
  reopen: boolean
}

/**
 * Awaits `p` while moving the fake clock on: an ack alone may wait for a timer of the queue's own on the
 * injected clock (LevelQueue's ack window), armed only once an earlier batch's turn is over.
 */
async function withClock<T>(clock: FakeClock, p: Promise<T>): Promise<T> {
  let settled = false
  const done = p.finally(() => (settled = true))
  for (let i = 0; i < 100 && !settled; i++) {
    clock.advance(100)
    await new Promise((r) => setImmediate(r))
  }
  return done
}

export function msg(i: number, extra: Partial<Message> = {}): Message {
  return { topic: `sensors/${i}`, payload: Buffer.from(`payload-${i}`), qos: 1, retain: false, ...extra }
}

/** Size one `msg(i)` is charged, measured through the queue itself (both implementations must agree). */
async function chargeOf(make: QueueFactory): Promise<number> {
  const h = await make({})
  await h.queue.append([msg(10)])
  const b = h.queue.stats().bytes
  await h.cleanup()
  return b
}

/** One behaviour suite for every DurableQueue implementation (as abstract-level's suite for classic-level). */
export function queueConformance(impl: string, make: QueueFactory, supports: Supports): void {
  /** A case that needs a capability the implementation does not declare is reported as skipped. */
  const t = (name: string, fn: () => Promise<void>, needs?: keyof Supports): void => {
    const skip = needs !== undefined && !supports[needs] ? `${impl} does not declare supports.${needs}` : false
    test(`${impl}: ${name}`, { timeout: 20_000, skip }, fn)
  }

  t('peek returns appended messages oldest first with every field intact', async () => {
    const h = await make({})
    const full: Message = {
      topic: 'plant/line1/temp',
      payload: Buffer.from([0, 1, 2, 255]),
      qos: 2,
      retain: true,
      origin: 'client-7',
      receivedAt: 1_700_000_000_123,
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 60,
        contentType: 'application/json',
        responseTopic: 'reply/here',
        correlationData: Buffer.from([9, 8, 7]),
        userProperties: { site: 'north', tag: ['a', 'b'] },
      },
    }
    await h.queue.append([full, msg(2, { qos: 0 })])
    const got = await h.queue.peek(10)
    assert.equal(got.length, 2)
    assert.deepEqual(got[0]?.message, full)
    assert.deepEqual(got[1]?.message, msg(2, { qos: 0 }))
    assert.ok((got[0]?.seq ?? 0n) < (got[1]?.seq ?? 0n))
    assert.equal(typeof got[0]?.enqueuedAt, 'number')
    await h.cleanup()
  })

  t('peek continues after the last peeked entry and removes nothing', async () => {
    const h = await make({})
    await h.queue.append(Array.from({ length: 10 }, (_, i) => msg(i)))
    const a = await h.queue.peek(4)
    const b = await h.queue.peek(4)
    const c = await h.queue.peek(4)
    assert.deepEqual([...a, ...b, ...c].map((e) => e.message.topic), Array.from({ length: 10 }, (_, i) => `sensors/${i}`))
    assert.equal((await h.queue.peek(4)).length, 0)
    assert.equal(h.queue.stats().depth, 10)
    await h.queue.append([msg(10)])
    assert.deepEqual((await h.queue.peek(4)).map((e) => e.message.topic), ['sensors/10'])
    await h.cleanup()
  })

  t('ack removes entries in any order and ignores unknown or repeated sequences', async () => {
    const h = await make({})
    const seqs = await h.queue.appendSeq(Array.from({ length: 6 }, (_, i) => msg(i)))
    const bytesBefore = h.queue.stats().bytes
    await h.queue.peek(6)
    await h.queue.ack([seqs[4] as bigint, seqs[1] as bigint])
    await h.queue.ack([seqs[1] as bigint, 999_999n])
    const s = h.queue.stats()
    assert.equal(s.depth, 4)
    assert.equal(s.acked, 2)
    assert.ok(s.bytes < bytesBefore && s.bytes > 0)
    await h.queue.ack([seqs[0] as bigint, seqs[2] as bigint, seqs[3] as bigint, seqs[5] as bigint])
    assert.equal(h.queue.stats().depth, 0)
    assert.equal(h.queue.stats().bytes, 0)
    assert.equal(h.queue.stats().oldestEnqueuedAt, null)
    await h.cleanup()
  })

  t('acking entries that were never peeked removes them too', async () => {
    const h = await make({})
    const seqs = await h.queue.appendSeq([msg(1), msg(2), msg(3)])
    await h.queue.ack([seqs[1] as bigint])
    assert.deepEqual((await h.queue.peek(5)).map((e) => e.message.topic), ['sensors/1', 'sensors/3'])
    assert.equal(h.queue.stats().depth, 2)
    await h.cleanup()
  })

  t('concurrent appends keep call order and get increasing sequence numbers', async () => {
    const h = await make({})
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => h.queue.appendSeq([msg(i)])))
    const seqs = results.flat()
    for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as bigint) > (seqs[i - 1] as bigint))
    const got = await h.queue.peek(100)
    assert.deepEqual(got.map((e) => e.message.topic), Array.from({ length: 50 }, (_, i) => `sensors/${i}`))
    assert.equal(h.queue.stats().appended, 50)
    await h.cleanup()
  })

  t('an empty append resolves and changes nothing', async () => {
    const h = await make({})
    await h.queue.append([])
    assert.equal(h.queue.stats().depth, 0)
    assert.equal(h.queue.stats().appended, 0)
    await h.cleanup()
  })

  t('drop-oldest evicts the oldest entries to stay within max_bytes and counts them', async () => {
    const one = await chargeOf(make)
    const h = await make({ maxBytes: one * 5, policy: 'drop-oldest' })
    for (let i = 10; i < 18; i++) await h.queue.append([msg(i)])
    const s = h.queue.stats()
    assert.equal(s.depth, 5)
    assert.equal(s.dropped, 3)
    assert.ok(s.bytes <= one * 5)
    assert.deepEqual((await h.queue.peek(10)).map((e) => e.message.topic), [13, 14, 15, 16, 17].map((i) => `sensors/${i}`))
    await h.cleanup()
  })

  t('reject-new refuses appends over max_bytes with QUEUE_FULL and keeps what it has', async () => {
    const one = await chargeOf(make)
    const h = await make({ maxBytes: one * 3, policy: 'reject-new' })
    for (let i = 10; i < 13; i++) await h.queue.append([msg(i)])
    await assert.rejects(h.queue.append([msg(13)]), (err: unknown) => isFieldgateError(err, 'QUEUE_FULL'))
    const s = h.queue.stats()
    assert.equal(s.depth, 3)
    assert.equal(s.rejected, 1)
    assert.equal(s.dropped, 0)
    const got = await h.queue.peek(10)
    assert.deepEqual(got.map((e) => e.message.topic), ['sensors/10', 'sensors/11', 'sensors/12'])
    await h.queue.ack([got[0]?.seq as bigint])
    await h.queue.append([msg(14)])
    assert.equal(h.queue.stats().depth, 3)
    await h.cleanup()
  })

  t('a message bigger than the whole budget is refused under either policy', async () => {
    for (const policy of ['drop-oldest', 'reject-new'] as const) {
      const h = await make({ maxBytes: 100, policy })
      await assert.rejects(h.queue.append([msg(1, { payload: Buffer.alloc(200) })]), (err: unknown) => isFieldgateError(err, 'QUEUE_FULL'))
      assert.equal(h.queue.stats().rejected, 1)
      await h.cleanup()
    }
  })

  t('drop-oldest drops entries older than max_age when new ones arrive', async () => {
    const clock = new FakeClock(1_000_000)
    const h = await make({ maxAge: 60_000, policy: 'drop-oldest', clock })
    await h.queue.append([msg(1), msg(2)])
    clock.advance(30_000)
    await h.queue.append([msg(3)])
    assert.equal(h.queue.stats().oldestEnqueuedAt, 1_000_000)
    clock.advance(40_000)
    await h.queue.append([msg(4)])
    const s = h.queue.stats()
    assert.equal(s.dropped, 2)
    assert.equal(s.oldestEnqueuedAt, 1_030_000)
    assert.deepEqual((await h.queue.peek(10)).map((e) => e.message.topic), ['sensors/3', 'sensors/4'])
    await h.cleanup()
  })

  t('reject-new refuses new entries while the oldest is over max_age', async () => {
    const clock = new FakeClock(5_000)
    const h = await make({ maxAge: 10_000, policy: 'reject-new', clock })
    const [first] = await h.queue.appendSeq([msg(1)])
    clock.advance(10_001)
    await assert.rejects(h.queue.append([msg(2)]), (err: unknown) => isFieldgateError(err, 'QUEUE_FULL'))
    await withClock(clock, h.queue.ack([first as bigint]))
    await h.queue.append([msg(3)])
    assert.equal(h.queue.stats().depth, 1)
    assert.equal(h.queue.stats().rejected, 1)
    await h.cleanup()
  })

  t('a closed queue refuses appends with QUEUE_CLOSED', async () => {
    const h = await make({})
    await h.queue.close()
    await assert.rejects(h.queue.append([msg(1)]), (err: unknown) => isFieldgateError(err, 'QUEUE_CLOSED'))
    await h.cleanup()
  })

  t('entries not acked survive a reopen, and sequences keep increasing', async (): Promise<void> => {
    const h = await make({})
    assert.ok(h.reopen, 'supports.reopen needs a reopen() in the harness')
    const seqs = await h.queue.appendSeq(Array.from({ length: 20 }, (_, i) => msg(i)))
    await h.queue.peek(5)
    await h.queue.ack(seqs.slice(0, 5))
    await h.queue.ack([seqs[10] as bigint])
    const before = h.queue.stats()
    const q2 = await h.reopen()
    const after = q2.stats()
    assert.equal(after.depth, 14)
    assert.equal(after.bytes, before.bytes)
    assert.equal(after.appended, 20)
    assert.equal(after.acked, 6)
    const got = await q2.peek(100)
    assert.deepEqual(got.map((e) => e.message.topic), [5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19].map((i) => `sensors/${i}`))
    const [next] = await q2.appendSeq([msg(99)])
    assert.ok((next as bigint) > (seqs.at(-1) as bigint))
    await h.cleanup()
  }, 'reopen')

  t('peek(n) returns n entries whenever n are queued, however large they are', async () => {
    const h = await make({})
    try {
      const big = Buffer.alloc(2048, 7)
      await h.queue.append(Array.from({ length: 300 }, (_, i) => msg(i, { payload: big })))
      const first = await h.queue.peek(200)
      assert.equal(first.length, 200)
      const rest = await h.queue.peek(200)
      assert.equal(rest.length, 100)
      assert.equal(rest[0]?.message.topic, 'sensors/200')
    } finally {
      await h.cleanup()
    }
  })
}

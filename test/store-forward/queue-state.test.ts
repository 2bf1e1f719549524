import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { Meta } from '../../src/store-forward/queue-budget.ts'
import { QueueState } from '../../src/store-forward/queue-state.ts'
import { ACK_RETRY_MS, ACK_WINDOW_MS, type Batch, type Item, type Plan, type QueueTimer } from '../../src/store-forward/queue-types.ts'
import type { BudgetPolicy } from '../../src/store-forward/types.ts'

/**
 * The durable queue's state machine driven by generated interleavings of appends, group-commit timer
 * ticks, batch writes that complete or fail (a full disk), reads, rewinds, acks (deletes) and crashes
 * (the state is lost; only completed writes survive, a write in flight may or may not have reached the
 * disk), against a model disk: an atomic map of entries plus the metadata record. No IO, no real time.
 * Checked: an acknowledged append is on disk when acknowledged and stays until acked; an append whose
 * write failed is rejected, never acknowledged, and never reaches the disk; sequences only grow, across
 * crashes too; every read returns the next entries on disk in order, none skipped and none twice until
 * a rewind or crash; acks outlive failed writes; the counters match the disk; nothing is left pending
 * without a timer or batch to carry it.
 */
type Op =
  | { t: 'append'; count: number; qos: number }
  | { t: 'ack'; from: number; count: number }
  | { t: 'peek'; n: number }
  | { t: 'rewind' }
  | { t: 'write' }
  | { t: 'done'; headLookupFails: boolean }
  | { t: 'fail' }
  | { t: 'tick' }
  | { t: 'flush' }
  | { t: 'crash'; writeLanded: boolean }

const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ t: fc.constant('append' as const), count: fc.integer({ min: 1, max: 3 }), qos: fc.constantFrom(0, 1, 2) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('ack' as const), from: fc.nat(2), count: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('peek' as const), n: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'rewind' as const }) },
    { weight: 4, arbitrary: fc.constant({ t: 'write' as const }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('done' as const), headLookupFails: fc.boolean() }) },
    { weight: 1, arbitrary: fc.constant({ t: 'fail' as const }) },
    { weight: 3, arbitrary: fc.constant({ t: 'tick' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'flush' as const }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('crash' as const), writeLanded: fc.boolean() }) },
  ),
  { maxLength: 150, size: 'max' },
)

/** Charged size of every model entry (an empty encoded value would be 12 bytes + the 8-byte key). */
const SIZE = 20

interface Config {
  window: number
  maxBatch: number
  policy: BudgetPolicy
  maxBytes: number
}

interface DiskEntry {
  size: number
  at: number
  /** Which appended message this is (sequences of unwritten appends are reused after a crash; these never are). */
  msg: number
}

type Outcome = { t: 'append'; seqs: bigint[]; msgs: number[]; settled: 'resolved' | 'rejected' | null } | { t: 'ack'; seqs: bigint[]; settled: 'resolved' | 'rejected' | null }

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0)

class Harness {
  now = 1_000
  /** What is on disk: entries by sequence, and the metadata record. Changed only by a completed write. */
  disk = new Map<bigint, DiskEntry>()
  meta: Meta | null = null
  /** Entries put and deleted by acks over all lives (the metadata record must agree). */
  puts = 0
  acksDeleted = 0
  s!: QueueState
  tickets = new Map<number, Outcome>()
  /** A 'write' command waits for its turn; a batch taken and not yet finished. */
  writeWanted = false
  inFlight: { b: Batch; plan: Plan } | null = null
  timers = new Map<QueueTimer, number>()
  idle = true
  /** Sequences the consumer holds this life (read, or appended and resolved: live-first acks those). */
  held: bigint[] = []
  /** Last sequence read since the last rewind or crash. */
  readTo: bigint | null = null
  msgs = 0
  /** False while a head lookup after deletes has failed (the queue's age may be stale until the next batch). */
  headKnown = true
  resolvedMsgs = new Set<number>()
  rejectedMsgs = new Set<number>()
  deletedByAck = new Set<number>()
  /** Sequences acked since the last crash, whether or not their ack call succeeded. */
  ackedThisLife = new Set<bigint>()
  maxPut: bigint | null = null
  /** What the last peek returned. */
  lastRead: bigint[] = []

  constructor(readonly c: Config) {
    this.boot()
  }

  boot(): void {
    this.s = new QueueState({ maxBytes: this.c.maxBytes, maxAge: 0, policy: this.c.policy, maxBatch: this.c.maxBatch, groupCommitWindow: this.c.window })
    const keys = [...this.disk.keys()].sort(cmp)
    let bytes = 0
    for (const e of this.disk.values()) bytes += e.size
    // Opening: the metadata record, or a recount when there is none.
    this.s.restore(this.meta ?? { depth: this.disk.size, bytes }, keys.at(-1) ?? null)
    this.s.head(this.firstFrom(this.s.headSeq))
    this.tickets.clear()
    this.writeWanted = false
    this.inFlight = null
    this.timers.clear()
    this.idle = true
    this.held = []
    this.readTo = null
    this.ackedThisLife.clear()
    this.headKnown = true
    this.checkStats()
  }

  firstFrom(seq: bigint): { seq: bigint; at: number } | null {
    const keys = [...this.disk.keys()].filter((k) => k >= seq).sort(cmp)
    const k = keys[0]
    return k === undefined ? null : { seq: k, at: (this.disk.get(k) as DiskEntry).at }
  }

  checkStats(): void {
    const st = this.s.stats()
    let bytes = 0
    for (const e of this.disk.values()) bytes += e.size
    assert.equal(st.depth, this.disk.size, 'depth = entries on disk')
    assert.equal(st.bytes, bytes, 'bytes = sizes on disk')
    assert.equal(st.acked, this.acksDeleted, 'acked = entries deleted by acks')
    const oldest = [...this.disk.keys()].sort(cmp)[0]
    if (this.headKnown) assert.equal(st.oldestEnqueuedAt, oldest === undefined ? null : (this.disk.get(oldest) as DiskEntry).at, 'the age is the oldest entry on disk')
    if (this.c.policy === 'reject-new') assert.ok(st.bytes <= this.c.maxBytes, `${st.bytes} bytes held over storage.max_bytes=${this.c.maxBytes} (reject-new)`)
    if (this.meta) assert.equal(this.meta.appended, this.puts, 'the metadata record counts every entry written')
  }

  exec(): void {
    for (const c of this.s.take()) {
      switch (c.t) {
        case 'write':
          assert.ok(!this.writeWanted && this.inFlight === null, 'one batch at a time')
          this.writeWanted = true
          this.idle = false
          break
        case 'timer':
          assert.ok(!this.timers.has(c.kind), `a second ${c.kind} timer`)
          assert.equal(c.ms, { commit: this.c.window, linger: 0, retry: ACK_RETRY_MS, acks: ACK_WINDOW_MS }[c.kind])
          this.timers.set(c.kind, c.ms)
          break
        case 'clear':
          assert.ok(this.timers.delete(c.kind), `cleared a ${c.kind} timer that was not armed`)
          break
        case 'resolve':
          for (const a of c.appends) {
            const o = this.settle(a.id, 'resolved')
            assert.ok(o.t === 'append', `ticket ${a.id} is not an append`)
            assert.deepEqual(a.items.map((i) => i.seq), o.seqs)
            o.seqs.forEach((s, i) => {
              const m = o.msgs[i] as number
              assert.equal(this.disk.get(s)?.msg, m, `append of ${s} acknowledged but not on disk`)
              this.resolvedMsgs.add(m)
              this.held.push(s)
            })
          }
          for (const id of c.ackIds) this.settle(id, 'resolved')
          break
        case 'reject':
          for (const id of c.ids) {
            const o = this.settle(id, 'rejected')
            if (o.t === 'append') for (const m of o.msgs) this.rejectedMsgs.add(m)
          }
          break
        case 'idle':
          this.idle = true
      }
    }
  }

  settle(id: number, how: 'resolved' | 'rejected'): Outcome {
    const o = this.tickets.get(id)
    assert.ok(o, `ticket ${id} unknown`)
    assert.equal(o.settled, null, `ticket ${id} settled twice`)
    o.settled = how
    return o
  }

  /** Applies a batch atomically, as LevelDB's write does. */
  land(plan: Plan): void {
    for (const p of plan.puts) {
      assert.ok(this.maxPut === null || p.seq > this.maxPut, `put ${p.seq} after ${String(this.maxPut)}: sequences only grow, across crashes too`)
      this.maxPut = p.seq
      this.disk.set(p.seq, { size: p.size, at: p.at, msg: p.value.readUInt32BE(0) })
    }
    this.puts += plan.puts.length
    for (const s of plan.dels.keys()) {
      const e = this.disk.get(s)
      assert.ok(e && this.disk.delete(s), `deleted ${s} that is not on disk`)
      this.deletedByAck.add(e.msg)
      this.acksDeleted++
    }
    this.meta = plan.meta
  }

  step(op: Op): void {
    const s = this.s
    switch (op.t) {
      case 'append': {
        this.now++
        const msgs = Array.from({ length: op.count }, () => this.msgs++)
        const items: Item[] = msgs.map((m) => {
          const value = Buffer.alloc(4)
          value.writeUInt32BE(m)
          return { seq: 0n, value, size: SIZE, qos: op.qos, at: this.now }
        })
        const r = s.append(items, this.now)
        if ('full' in r) {
          assert.equal(this.c.policy, 'reject-new', `refused under ${this.c.policy}: ${r.full}`)
          break
        }
        this.tickets.set(r.id, { t: 'append', seqs: items.map((i) => i.seq), msgs, settled: null })
        break
      }
      case 'ack': {
        const seqs = this.held.slice(op.from, op.from + op.count)
        if (seqs.length === 0) break
        this.tickets.set(s.ack(seqs), { t: 'ack', seqs, settled: null })
        for (const q of seqs) this.ackedThisLife.add(q)
        break
      }
      case 'peek': {
        if (this.inFlight) break // the shell's lock: reads take turns with batches
        const at = s.readFrom()
        const from = 'after' in at ? at.after + 1n : at.from
        const got = [...this.disk.keys()].filter((k) => k >= from).sort(cmp).slice(0, op.n)
        // What the reader must get: the oldest entries after what it read since the last rewind.
        const expected = [...this.disk.keys()].filter((k) => this.readTo === null || k > this.readTo).sort(cmp).slice(0, op.n)
        assert.deepEqual(got, expected, 'a read returns the next entries on disk, in order, none skipped, none again')
        this.lastRead = got
        for (const k of got) {
          s.read(k, SIZE, (this.disk.get(k) as DiskEntry).at)
          this.held.push(k)
          this.readTo = k
        }
        break
      }
      case 'rewind':
        s.rewind()
        this.readTo = null
        break
      case 'write': {
        if (!this.writeWanted) break
        this.writeWanted = false
        const b = s.takeBatch()
        const items = b.appends.flatMap((a) => a.items)
        assert.ok(items.length <= this.c.maxBatch || b.appends.length === 1, `a batch of ${items.length} > max_batch ${this.c.maxBatch}`)
        const { dels, unknown } = s.knownSizes(b.acks)
        for (const u of unknown) if (this.disk.has(u)) dels.set(u, (this.disk.get(u) as DiskEntry).size)
        const plan = s.plan(b, dels, { evicted: 0, bytesAfter: s.bytesAfter(b, dels), droppedPuts: new Set() })
        assert.equal(plan.sync, plan.puts.some((p) => p.qos > 0), 'QoS 1/2 puts are synced')
        for (const d of plan.dels.keys()) assert.ok(b.acks.includes(d), `deletes ${d}, which nobody acked`)
        this.inFlight = { b, plan }
        break
      }
      case 'done': {
        if (!this.inFlight) break
        const { b, plan } = this.inFlight
        this.inFlight = null
        this.land(plan)
        if (s.committed(plan)) {
          this.headKnown = !op.headLookupFails
          if (this.headKnown) s.head(this.firstFrom(s.headSeq))
        }
        s.finished(b)
        this.checkStats()
        break
      }
      case 'fail': {
        if (!this.inFlight) break
        s.failed(this.inFlight.b, 'No space left on device')
        this.inFlight = null
        break
      }
      case 'tick': {
        const [kind, ms] = [...this.timers][0] ?? []
        if (kind === undefined || ms === undefined) break
        this.timers.delete(kind)
        this.now += ms
        s.timerFired(kind)
        break
      }
      case 'flush':
        s.flushNow()
        break
      case 'crash':
        if (this.inFlight && op.writeLanded) this.land(this.inFlight.plan)
        this.boot()
        break
    }
    this.exec()
  }

  /** No more failures or crashes: timers fire and batches land until nothing is left (bounded; no flush() needed). */
  quiesce(): void {
    for (let i = 0; i < 10_000; i++) {
      if (this.inFlight) this.step({ t: 'done', headLookupFails: false })
      else if (this.writeWanted) this.step({ t: 'write' })
      else if (this.timers.size > 0) this.step({ t: 'tick' })
      else {
        // Nothing armed and no batch out: pending work now would wait for an append that may never come.
        assert.ok(!this.s.hasWork(), 'work is left pending with no timer and no batch to carry it')
        return
      }
    }
    assert.fail('did not settle')
  }
}

function check(h: Harness): void {
  h.quiesce()
  assert.ok(h.idle, 'no batch is being written')
  assert.ok(!h.s.hasWork(), 'nothing is left pending')
  for (const [id, o] of h.tickets) assert.notEqual(o.settled, null, `ticket ${id} never settled`)
  // Acknowledged appends are never lost: each is on disk unless a consumer's ack deleted it.
  const onDisk = new Set([...h.disk.values()].map((e) => e.msg))
  for (const m of h.resolvedMsgs) assert.ok(onDisk.has(m) || h.deletedByAck.has(m), `acknowledged message ${m} lost`)
  for (const m of h.rejectedMsgs) assert.ok(!onDisk.has(m) && !h.deletedByAck.has(m), `message ${m}, whose append was rejected, reached the disk`)
  // Acks are deletes that outlive a failed write: once writes succeed, everything acked is gone.
  for (const s of h.ackedThisLife) assert.ok(!h.disk.has(s), `acked entry ${s} is still on disk`)
  // A reader starting over gets exactly what is on disk, in order.
  h.step({ t: 'rewind' })
  const all: bigint[] = []
  for (let i = 0; i < 1000; i++) {
    h.step({ t: 'peek', n: 4 })
    if (h.lastRead.length === 0) break
    all.push(...h.lastRead)
  }
  assert.deepEqual(all, [...h.disk.keys()].sort(cmp), 'a full read returns every entry on disk in sequence order')
  // Acking everything empties the queue, on disk and in its counters.
  h.step({ t: 'ack', from: 0, count: h.held.length })
  h.quiesce()
  assert.equal(h.disk.size, 0, 'everything acked was deleted')
  assert.equal(h.s.stats().depth, 0)
  assert.equal(h.s.stats().bytes, 0)
}

const configs = fc.record({
  window: fc.constantFrom(0, 5),
  maxBatch: fc.constantFrom(1, 3, 1000),
  policy: fc.constantFrom<BudgetPolicy>('drop-oldest', 'reject-new'),
  maxBytes: fc.constantFrom(10 * SIZE, 1e9),
})

test('any interleaving of appends, timer ticks, writes that land or fail, reads, acks and crashes keeps order and loses nothing', () => {
  fc.assert(
    fc.property(ops, configs, (seq, c) => {
      // drop-oldest would evict (a disk scan in the shell): the model keeps the budget out of its reach.
      const h = new Harness(c.policy === 'drop-oldest' ? { ...c, maxBytes: 1e9 } : c)
      for (const op of seq) h.step(op)
      check(h)
    }),
    { numRuns: 1500 },
  )
})

const item = (qos = 1): Item => ({ seq: 0n, value: Buffer.alloc(4), size: SIZE, qos, at: 1000 })
const fresh = (o: Partial<Config> = {}): QueueState => new QueueState({ maxBytes: 1e9, maxAge: 0, policy: 'drop-oldest', maxBatch: 1000, groupCommitWindow: 5, ...o })
/** Writes a batch the way the shell does, with no acks to look up and nothing to evict. */
const land = (s: QueueState): Batch => {
  const b = s.takeBatch()
  const { dels } = s.knownSizes(b.acks)
  s.committed(s.plan(b, dels, { evicted: 0, bytesAfter: s.bytesAfter(b, dels), droppedPuts: new Set() }))
  return b
}

test('appends within the group-commit window share one batch, written when the window ends', () => {
  const s = fresh()
  for (let i = 0; i < 3; i++) s.append([item()], 1000)
  assert.deepEqual(s.take(), [{ t: 'timer', kind: 'commit', ms: 5 }], 'one timer for the three, no write yet')
  s.timerFired('commit')
  assert.deepEqual(s.take(), [{ t: 'write' }])
  const b = land(s)
  assert.deepEqual(b.appends.flatMap((a) => a.items.map((i) => i.seq)), [0n, 1n, 2n])
  s.finished(b)
  assert.deepEqual(s.take().map((c) => c.t), ['resolve', 'timer'], 'the rest of this turn for appends answering the acknowledgements')
  s.append([item()], 1000)
  assert.deepEqual(s.take(), [], 'no window for those')
  s.timerFired('linger')
  assert.deepEqual(s.take(), [{ t: 'write' }])
  const next = land(s)
  s.finished(next)
  s.timerFired('linger')
  assert.deepEqual(s.take().map((c) => c.t), ['resolve', 'timer', 'idle'], 'idle once a turn brought nothing')
})

test('a batch that reaches max_batch is written at once, without waiting for the window', () => {
  const s = fresh({ maxBatch: 2 })
  s.append([item()], 1000)
  s.append([item()], 1000)
  assert.deepEqual(s.take(), [{ t: 'timer', kind: 'commit', ms: 5 }, { t: 'clear', kind: 'commit' }, { t: 'write' }])
})

test('appends and acks that arrive while a batch is written go in the next batch, started as soon as it is done', () => {
  const s = fresh()
  s.append([item()], 1000)
  s.timerFired('commit')
  s.take()
  const b = s.takeBatch()
  s.append([item()], 1000)
  s.ack([0n])
  assert.deepEqual(s.take(), [], 'no timer while a batch is out')
  const { dels } = s.knownSizes(b.acks)
  s.committed(s.plan(b, dels, { evicted: 0, bytesAfter: s.bytesAfter(b, dels), droppedPuts: new Set() }))
  s.finished(b)
  assert.deepEqual(s.take().map((c) => c.t), ['resolve', 'write'], "the next batch starts at once: a drain's last acks never wait for another append")
})

test('after a failed write, new appends wait for the window and lone acks for ACK_RETRY_MS: a broken disk is no busy loop', () => {
  const s = fresh()
  s.append([item()], 1000)
  s.timerFired('commit')
  s.finished(land(s))
  s.timerFired('linger')
  assert.deepEqual(s.take().map((c) => c.t), ['timer', 'write', 'resolve', 'timer', 'idle'])
  s.ack([0n])
  s.timerFired('acks')
  assert.deepEqual(s.take(), [{ t: 'timer', kind: 'acks', ms: ACK_WINDOW_MS }, { t: 'write' }])
  s.failed(s.takeBatch(), 'No space left on device')
  assert.deepEqual(s.take(), [{ t: 'reject', ids: [2] }, { t: 'idle' }, { t: 'timer', kind: 'retry', ms: ACK_RETRY_MS }])
  assert.equal(s.stats().lastError, 'No space left on device')
  s.ack([1n])
  assert.deepEqual(s.take(), [], 'more acks wait for the retry too')
  s.timerFired('retry')
  assert.deepEqual(s.take(), [{ t: 'write' }], 'the acks are written again without any append')
  const b = s.takeBatch()
  assert.deepEqual(b.acks, [0n, 1n])
  s.append([item()], 1000)
  s.failed(b, 'No space left on device')
  assert.deepEqual(s.take(), [{ t: 'reject', ids: [3] }, { t: 'idle' }, { t: 'timer', kind: 'commit', ms: 5 }], 'a pending append waits for the window')
})

test('an append over the reject-new budget is refused at once and counted, and never gets a sequence', () => {
  const s = fresh({ policy: 'reject-new', maxBytes: 2 * SIZE })
  assert.ok('id' in s.append([item(), item()], 1000))
  const r = s.append([item()], 1000)
  assert.ok('full' in r && /storage.max_bytes=40/.test(r.full), JSON.stringify(r))
  assert.equal(s.stats().rejected, 1)
  s.timerFired('commit')
  assert.deepEqual(land(s).appends.flatMap((a) => a.items.map((i) => i.seq)), [0n, 1n])
})

test('under reject-new, a batch being written counts against the budget before it lands', () => {
  // Found by the model above: the batch's bytes left the pending count when it was taken and reached the
  // queue's bytes only once written, so appends during the write were admitted over storage.max_bytes.
  const s = fresh({ policy: 'reject-new', maxBytes: 2 * SIZE })
  s.append([item(), item()], 1000)
  s.timerFired('commit')
  const b = s.takeBatch()
  assert.ok('full' in s.append([item()], 1000), 'refused while the full batch is out')
  s.failed(b, 'No space left on device')
  assert.ok('id' in s.append([item()], 1000), 'the failed batch holds nothing any more')
})

test('acks alone wait for the ack window and share one batch; max_batch of them go at once', () => {
  const s = fresh({ maxBatch: 4 })
  s.ack([0n])
  s.ack([1n, 2n])
  assert.deepEqual(s.take(), [{ t: 'timer', kind: 'acks', ms: ACK_WINDOW_MS }], 'one window for both calls, no write yet')
  s.timerFired('acks')
  assert.deepEqual(s.take(), [{ t: 'write' }])
  const b = land(s)
  assert.deepEqual(b.acks, [0n, 1n, 2n])
  s.ack([3n])
  s.finished(b)
  assert.deepEqual(s.take().map((c) => c.t), ['resolve', 'timer'], 'acks sent back during the write wait out the turn, not a batch of their own at once')
  s.timerFired('linger')
  assert.deepEqual(s.take(), [{ t: 'idle' }, { t: 'timer', kind: 'acks', ms: ACK_WINDOW_MS }])
  s.ack([4n, 5n, 6n])
  assert.deepEqual(s.take(), [{ t: 'clear', kind: 'acks' }, { t: 'write' }], 'max_batch acks pending: written at once')
})

test('pending acks ride along with the next append batch, and flush writes them without waiting', () => {
  const s = fresh()
  s.ack([0n])
  s.append([item()], 1000)
  assert.deepEqual(s.take(), [{ t: 'timer', kind: 'acks', ms: ACK_WINDOW_MS }, { t: 'timer', kind: 'commit', ms: 5 }])
  s.timerFired('commit')
  assert.deepEqual(s.take(), [{ t: 'clear', kind: 'acks' }, { t: 'write' }])
  const b = s.takeBatch()
  assert.deepEqual(b.acks, [0n])
  assert.equal(b.appends.length, 1)
  const t = fresh()
  t.ack([7n])
  t.flushNow()
  assert.deepEqual(t.take(), [{ t: 'timer', kind: 'acks', ms: ACK_WINDOW_MS }, { t: 'clear', kind: 'acks' }, { t: 'write' }])
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { silentLogger, type QueueEntry } from '../../src/core/index.ts'
import { ForwarderState } from '../../src/store-forward/forwarder-state.ts'
import type { ForwarderMode, TimerKind } from '../../src/store-forward/forwarder-types.ts'

/**
 * The forwarder's state machine driven by generated interleavings of appends, queue reads, cloud
 * acknowledgements, dropped connections (before or after the cloud got the message), reconnects,
 * timers and crashes, against a model of the durable queue and of an uplink that acknowledges in order
 * (one TCP connection). No disk, no sockets, no real time.
 */
type Op =
  | { t: 'append' }
  | { t: 'turn' }
  | { t: 'read' }
  | { t: 'deliver' }
  | { t: 'drop'; afterCloudGotIt: boolean }
  | { t: 'up' }
  | { t: 'timer' }
  | { t: 'crash' }

const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant({ t: 'append' as const }) },
    { weight: 4, arbitrary: fc.constant({ t: 'turn' as const }) },
    { weight: 3, arbitrary: fc.constant({ t: 'read' as const }) },
    { weight: 5, arbitrary: fc.constant({ t: 'deliver' as const }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('drop' as const), afterCloudGotIt: fc.boolean() }) },
    { weight: 1, arbitrary: fc.constant({ t: 'up' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'timer' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  ),
  { maxLength: 120, size: 'max' },
)

interface Outstanding {
  seq: bigint
  gen: number
  /** False once its connection is gone (or it was sent while offline): it fails when processed. */
  ok: boolean
  /** The forwarder incarnation that sent it; a crashed one never hears back. */
  life: number
}

class Harness {
  now = 1_000
  online = true
  /** The durable queue: entries appended and not acked, in sequence order. */
  queue: QueueEntry[] = []
  readPos: bigint | null = null
  next = 0n
  appended: bigint[] = []
  cloud: bigint[] = []
  outstanding: Outstanding[] = []
  pendingRead: number | null = null
  kick = false
  flushAcks = false
  timers = new Map<TimerKind, number>()
  life = 0
  /**
   * How often each entry may reach the cloud again: once per drop that lost its PUBACK (the cloud had
   * it, the forwarder did not hear back) and once per crash while the cloud had it and the queue still
   * held it (its ack not yet handed to the queue). A resend beyond that is a needless duplicate.
   */
  mayRepeat = new Map<bigint, number>()
  state!: ForwarderState

  constructor(
    readonly window: number,
    readonly mode: ForwarderMode,
    readonly replayRate: number,
  ) {
    this.boot()
  }

  boot(): void {
    this.life++
    this.pendingRead = null
    this.kick = false
    this.flushAcks = false
    this.timers.clear()
    const env = { now: () => this.now, online: () => this.online, queueDepth: () => this.queue.length }
    this.state = new ForwarderState({ window: this.window, replayRate: this.replayRate, mode: this.mode, maxLive: this.window * 4, settleTimeout: 10_000, logger: silentLogger }, env)
    const { rewind } = this.state.start()
    assert.ok(rewind, 'a new forwarder starts at the oldest entry')
    this.readPos = null
    this.exec()
  }

  exec(): void {
    for (const c of this.state.take()) {
      if (c.t === 'send') {
        assert.ok(this.queue.some((e) => e.seq === c.entry.seq), `seq ${c.entry.seq} sent but not in the queue (acked already?)`)
        this.outstanding.push({ seq: c.entry.seq, gen: c.gen, ok: this.online, life: this.life })
      } else if (c.t === 'read') {
        assert.equal(this.pendingRead, null, 'one read at a time')
        this.pendingRead = c.n
      } else if (c.t === 'kick') this.kick = true
      else if (c.t === 'flushAcks') this.flushAcks = true
      else if (c.t === 'timer') {
        assert.ok(!this.timers.has(c.kind), `a second ${c.kind} timer`)
        this.timers.set(c.kind, c.ms)
      } else this.timers.delete(c.kind)
    }
  }

  step(op: Op): void {
    const s = this.state
    switch (op.t) {
      case 'append': {
        const entry = { seq: this.next++, message: { topic: 't', payload: Buffer.alloc(0), qos: 1 as const, retain: false }, enqueuedAt: this.now }
        s.appendStarted()
        this.queue.push(entry)
        this.appended.push(entry.seq)
        s.appendEnded(entry)
        break
      }
      case 'turn':
        if (this.kick) {
          this.kick = false
          s.fill()
        }
        if (this.flushAcks) {
          this.flushAcks = false
          const acked = new Set(s.takeAcks())
          this.queue = this.queue.filter((e) => !acked.has(e.seq))
        }
        break
      case 'read': {
        if (this.pendingRead === null) break
        const got = this.queue.filter((e) => this.readPos === null || e.seq > this.readPos).slice(0, this.pendingRead)
        this.pendingRead = null
        const last = got.at(-1)
        if (last) this.readPos = last.seq
        s.read(got)
        break
      }
      case 'deliver': {
        const o = this.outstanding.shift()
        if (!o || o.life !== this.life) break
        if (o.ok) {
          this.cloud.push(o.seq)
          s.published(o.seq, o.gen)
        } else s.publishFailed(o.seq, o.gen, 'connection lost')
        break
      }
      case 'drop': {
        if (!this.online) break
        const head = this.outstanding[0]
        if (op.afterCloudGotIt && head?.ok && head.life === this.life) {
          this.cloud.push(head.seq) // its PUBACK is lost
          this.allowRepeat(head.seq)
        }
        for (const o of this.outstanding) o.ok = false
        this.online = false
        break
      }
      case 'up':
        if (this.online) break
        this.online = true
        s.online()
        break
      case 'timer': {
        const [kind, ms] = [...this.timers][0] ?? []
        if (kind === undefined || ms === undefined) break
        this.timers.delete(kind)
        this.now += ms
        s.timerFired(kind)
        break
      }
      case 'crash':
        // Acks not yet handed to the queue are lost with the process; what the cloud has, it keeps.
        for (const e of this.queue) if (this.cloud.includes(e.seq)) this.allowRepeat(e.seq)
        this.outstanding = []
        this.online = false
        this.boot()
        break
    }
    this.exec()
  }

  allowRepeat(seq: bigint): void {
    this.mayRepeat.set(seq, (this.mayRepeat.get(seq) ?? 0) + 1)
  }

  /** Online for good, then every pending thing happens until nothing is left (bounded). */
  settle(): void {
    this.step({ t: 'up' })
    for (let i = 0; i < 20_000; i++) {
      const before = this.cloud.length + this.queue.length * 1e6
      if (this.outstanding.length > 0) this.step({ t: 'deliver' })
      else if (this.kick || this.flushAcks) this.step({ t: 'turn' })
      else if (this.pendingRead !== null) this.step({ t: 'read' })
      else if (this.timers.size > 0) this.step({ t: 'timer' })
      else if (before === this.cloud.length + this.queue.length * 1e6) return
    }
    assert.fail('did not settle')
  }
}

function check(h: Harness): void {
  h.settle()
  const first: bigint[] = []
  const seen = new Set<bigint>()
  for (const s of h.cloud) {
    if (seen.has(s)) continue
    seen.add(s)
    first.push(s)
  }
  assert.deepEqual([...first].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), h.appended, 'every appended message reached the cloud (nothing lost)')
  if (h.mode === 'backlog-first') assert.deepEqual(first, h.appended, 'first arrivals are in append order')
  assert.equal(h.queue.length, 0, 'everything the cloud acknowledged left the queue')
  // Duplicates only where a drop or a crash left the forwarder not knowing the cloud had the entry.
  // (Not "at most the window per crash": acks wait for the queue's next batch, and until then the
  // window is refilled, so a crash can resend more than a window; see docs/architecture.md.)
  const arrivals = new Map<bigint, number>()
  for (const s of h.cloud) arrivals.set(s, (arrivals.get(s) ?? 0) + 1)
  for (const [s, n] of arrivals) assert.ok(n - 1 <= (h.mayRepeat.get(s) ?? 0), `seq ${s} reached the cloud ${n} times; drops and crashes explain ${h.mayRepeat.get(s) ?? 0} repeats (window ${h.window})`)
}

test('any interleaving of appends, reads, acks, drops, reconnects, timers and crashes keeps order and loses nothing', () => {
  fc.assert(
    fc.property(ops, fc.constantFrom(1, 2, 4), fc.constantFrom<ForwarderMode>('backlog-first', 'live-first'), fc.constantFrom(0, 50), (seq, window, mode, rate) => {
      const h = new Harness(window, mode, rate)
      for (const op of seq) h.step(op)
      check(h)
    }),
    { numRuns: 1500 },
  )
})

test('after a failure nothing new is sent until every in-flight publish has settled, then the failed ones go first', () => {
  const h = new Harness(3, 'backlog-first', 0)
  for (let i = 0; i < 5; i++) h.step({ t: 'append' })
  h.step({ t: 'turn' })
  h.step({ t: 'read' })
  assert.deepEqual(h.outstanding.map((o) => o.seq), [0n, 1n, 2n])
  h.step({ t: 'drop', afterCloudGotIt: false })
  h.step({ t: 'up' })
  h.step({ t: 'deliver' })
  h.step({ t: 'turn' })
  assert.deepEqual(h.outstanding.map((o) => o.seq), [1n, 2n], 'nothing new while 1 and 2 may still land')
  h.step({ t: 'deliver' })
  h.step({ t: 'deliver' })
  h.step({ t: 'turn' })
  assert.deepEqual(h.outstanding.map((o) => o.seq), [0n, 1n, 2n], 'the failed ones again, in order')
  check(h)
})

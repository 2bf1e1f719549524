import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { ChunkQueue } from '../../src/fleet/ops/chunk-queue.ts'
import { WANT_IDLE_MS, WANT_MAX, WantPlan } from '../../src/fleet/want-plan.ts'
import { seededRandom } from '../../src/core/random.ts'

/**
 * The transfer protocol without sockets: the operator's ChunkQueue and one WantPlan per gateway,
 * stepped in simulated time (100 ms per step), with chunk messages lost at random and gateways going
 * offline (what they miss meanwhile is lost, as with a clean session). Progress reports and requests
 * are QoS 1 in the product, so they arrive while the gateway is online.
 */
interface Gw {
  have: Set<number>
  wants: WantPlan
  online: boolean
  /** Chunk messages taken since the last progress report, and the last shared index. */
  since: number
  last: number
}

function simulate(o: { chunks: number; gateways: number; lead: number; loss: number; outages: Array<{ gw: number; at: number; steps: number }>; seed: number; sendsPerStep: number }) {
  const rand = seededRandom(o.seed)
  const q = new ChunkQueue(o.lead, 5000)
  const gws: Gw[] = Array.from({ length: o.gateways }, () => ({ have: new Set<number>(), wants: new WantPlan(0), online: true, since: 0, last: -1 }))
  const missing = (g: Gw) => (max: number) => Array.from({ length: o.chunks }, (_, i) => i).filter((i) => !g.have.has(i)).slice(0, max)
  gws.forEach((g, i) => q.join(String(i), missing(g)(o.chunks), 0))
  const stats = { shared: 0, unicast: 0, steps: 0 }
  const deliver = (g: Gw, index: number, shared: boolean, now: number): void => {
    if (!g.online || rand() < o.loss) return
    if (!g.have.has(index)) {
      g.have.add(index)
      g.wants.written(index, now)
    }
    g.since++
    if (shared) g.last = index
  }
  // Bounded: 20 000 steps are 33 simulated minutes.
  for (let step = 1; step <= 20_000; step++) {
    const now = step * 100
    stats.steps = step
    for (const out of o.outages) {
      const g = gws[out.gw] as Gw
      if (step === out.at) g.online = false
      if (step === out.at + out.steps) {
        g.online = true
        g.wants.reconnected(now)
      }
    }
    for (let k = 0; k < o.sendsPerStep; k++) {
      const s = q.next(now)
      if (!s) break
      q.sent(s)
      if (s.to === 'shared') {
        stats.shared++
        for (const g of gws) deliver(g, s.index, true, now)
      } else {
        stats.unicast++
        deliver(gws[Number(s.to)] as Gw, s.index, false, now)
      }
    }
    gws.forEach((g, i) => {
      if (!g.online) return
      if (g.since >= 8 || (g.since > 0 && step % 10 === 0)) {
        q.progress(String(i), g.last, now)
        g.since = 0
      }
      if (g.have.size === o.chunks) return q.leave(String(i))
      const ask = g.wants.next(now, missing(g))
      if (ask) q.want(String(i), ask.indices)
    })
    if (gws.every((g) => g.have.size === o.chunks)) break
  }
  return { done: gws.every((g) => g.have.size === o.chunks), stats }
}

test('model: under random loss and outages every gateway ends with every chunk', { timeout: 120_000 }, () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 60 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 20 }),
      fc.double({ min: 0, max: 0.5, noNaN: true }),
      fc.array(fc.record({ gw: fc.nat({ max: 5 }), at: fc.integer({ min: 1, max: 200 }), steps: fc.integer({ min: 1, max: 600 }) }), { maxLength: 4 }),
      fc.integer(),
      (chunks, gateways, lead, loss, outages, seed) => {
        const r = simulate({ chunks, gateways, lead, loss, outages: outages.filter((x) => x.gw < gateways), seed, sendsPerStep: 4 })
        assert.ok(r.done, `not complete after ${r.stats.steps} steps: ${JSON.stringify(r.stats)}`)
      },
    ),
    { numRuns: 150 },
  )
})

test('model: without loss the whole update goes out once, on the shared topic, whatever the number of gateways', () => {
  for (const gateways of [1, 3, 20]) {
    for (const lead of [1, 4, 16]) {
      const r = simulate({ chunks: 50, gateways, lead, loss: 0, outages: [], seed: 1, sendsPerStep: 4 })
      assert.ok(r.done)
      assert.deepEqual({ shared: r.stats.shared, unicast: r.stats.unicast }, { shared: 50, unicast: 0 }, `${gateways} gateways, lead ${lead}`)
    }
  }
})

test('model: a gateway offline for half the transfer catches up with its own requests, not the others\' stream', () => {
  const r = simulate({ chunks: 100, gateways: 5, lead: 8, loss: 0, outages: [{ gw: 2, at: 5, steps: 100 }], seed: 7, sendsPerStep: 4 })
  assert.ok(r.done)
  assert.equal(r.stats.shared, 100, 'the broadcast went out once')
  assert.ok(r.stats.unicast > 0 && r.stats.unicast <= 100, `catch-up sent to the one gateway alone: ${r.stats.unicast}`)
})

test('the shared stream waits for a gateway that keeps up but is behind by the lead, and not for one that went quiet', () => {
  const q = new ChunkQueue(2, 5000)
  q.join('a', [0, 1, 2, 3], 0)
  q.join('b', [0, 1, 2, 3], 0)
  for (const i of [0, 1]) {
    const s = q.next(0)
    assert.deepEqual(s, { index: i, to: 'shared' })
    q.sent(s as NonNullable<typeof s>)
  }
  assert.equal(q.next(10), null, 'both are 2 behind')
  q.progress('a', 1, 20)
  assert.equal(q.next(20), null, 'b is still 2 behind')
  q.progress('b', 0, 30)
  assert.deepEqual(q.next(30), { index: 2, to: 'shared' }, 'b is 1 behind')
  q.sent({ index: 2, to: 'shared' })
  assert.equal(q.next(4000), null)
  // b has not reported for 5 s: the stream goes on without it.
  assert.deepEqual(q.next(5030), { index: 3, to: 'shared' })
})

test('a chunk one gateway asks for goes to it alone; one several ask for goes to the shared topic once', () => {
  const q = new ChunkQueue(16, 5000)
  q.join('a', [], 0)
  q.join('b', [], 0)
  q.want('a', [5])
  q.want('a', [7])
  q.want('b', [7])
  assert.deepEqual(q.next(0), { index: 5, to: 'a' })
  q.sent({ index: 5, to: 'a' })
  assert.deepEqual(q.next(0), { index: 7, to: 'shared' })
  q.sent({ index: 7, to: 'shared' })
  assert.equal(q.next(0), null)
  assert.ok(q.idle)
})

test('a gateway asks at once after a reconnect and for a refused chunk, then batch by batch, and stops asking after 20 unanswered requests', () => {
  const miss = [1, 2, 3, 40, 41]
  const missing = (max: number) => miss.slice(0, max)
  const w = new WantPlan(0)
  assert.equal(w.next(100, missing), null, 'the stream is young: nothing yet')
  w.refused(41)
  assert.deepEqual(w.next(200, missing), { indices: [41], reason: 'refused' })
  w.reconnected(300)
  assert.deepEqual(w.next(300, missing), { indices: miss, reason: 'reconnect' })
  for (const i of miss) w.written(i, 400)
  miss.length = 0
  assert.equal(w.next(500, missing), null, 'nothing missing: nothing asked')
  miss.push(...Array.from({ length: 40 }, (_, i) => 100 + i))
  const first = w.next(500 + WANT_IDLE_MS, missing)
  assert.equal(first?.reason, 'idle')
  assert.equal(first?.indices.length, WANT_MAX)
  for (const i of first?.indices ?? []) w.written(i, 4000)
  miss.splice(0, WANT_MAX)
  assert.deepEqual(w.next(4001, missing), { indices: miss.slice(), reason: 'batch' }, 'the next batch as soon as the last is in')
  // Nothing comes any more: requests back off and end.
  let asked = 0
  for (let t = 5000; t < 3_600_000; t += 100) if (w.next(t, missing)) asked++
  assert.equal(asked, 20)
  assert.equal(w.stalled, true)
  w.reconnected(3_600_000)
  assert.ok(w.next(3_600_000, missing), 'a reconnect asks again')
})

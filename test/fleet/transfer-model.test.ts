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
  /** Chunk messages taken since the last progress report, the last shared index, the connection. */
  since: number
  last: number
  session: number
}

function simulate(o: { chunks: number; gateways: number; lead: number; loss: number; outages: Array<{ gw: number; at: number; steps: number }>; seed: number; sendsPerStep: number }) {
  const rand = seededRandom(o.seed)
  const q = new ChunkQueue(o.lead, 5000)
  const gws: Gw[] = Array.from({ length: o.gateways }, () => ({ have: new Set<number>(), wants: new WantPlan(0), online: true, since: 0, last: -1, session: 0 }))
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
    if (shared) {
      g.last = index
      g.wants.heard(now)
    }
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
        g.session++
        g.last = -1
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
        q.progress(String(i), g.last, String(g.session), now)
        g.since = 0
      }
      if (g.have.size === o.chunks) return q.leave(String(i))
      const ask = g.wants.next(now, missing(g))
      if (ask) {
        // A request carries a progress report too.
        q.progress(String(i), g.last, String(g.session), now)
        q.want(String(i), ask.indices)
      }
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

test('model: when the only gateway goes away mid-transfer the stream waits for it, and nothing goes out twice', () => {
  for (const steps of [30, 100, 600]) {
    const r = simulate({ chunks: 200, gateways: 1, lead: 16, loss: 0, outages: [{ gw: 0, at: 10, steps }], seed: 3, sendsPerStep: 4 })
    assert.ok(r.done)
    // What was in flight when it went away (at most the lead, plus the sends of the step) is sent again.
    assert.ok(r.stats.shared + r.stats.unicast <= 200 + 16 + 4, `${steps} steps away: ${JSON.stringify(r.stats)}`)
  }
})

test('the shared stream waits for a gateway that keeps up but is behind by the lead, not for one that stopped moving, and not at all when nobody reports', () => {
  const q = new ChunkQueue(2, 5000)
  const send = (now: number, index: number): void => {
    const s = q.next(now)
    assert.deepEqual(s, { index, to: 'shared' }, `at ${now}`)
    q.sent(s as NonNullable<typeof s>)
  }
  q.join('a', [0, 1, 2, 3, 4, 5, 6], 0)
  q.join('b', [0, 1, 2, 3], 0)
  send(0, 0)
  send(0, 1)
  assert.equal(q.next(10), null, 'both are 2 behind')
  q.progress('a', 1, 's1', 20)
  assert.equal(q.next(20), null, 'b is still 2 behind')
  q.progress('b', 0, 's1', 30)
  send(30, 2)
  assert.equal(q.next(4000), null, 'b is 2 behind again')
  // b keeps reporting, but its position has not moved for 5 s (it lost chunk 1): not waited for.
  q.progress('a', 2, 's1', 5000)
  q.progress('b', 0, 's1', 5020)
  send(5030, 3)
  q.join('c', [4, 5, 6, 7, 8], 5030)
  q.progress('a', 3, 's1', 5035)
  send(5040, 4)
  q.progress('a', 4, 's1', 5045)
  send(5050, 5)
  assert.equal(q.next(5060), null, 'c is 2 behind')
  q.progress('c', 4, 's1', 5070)
  send(5070, 6)
  assert.equal(q.next(5080), null, 'c is 2 behind again')
  // c reconnects: what was in flight to it is lost (it asks for that itself), its lag starts afresh.
  q.progress('a', 6, 's1', 5085)
  q.progress('c', -1, 's2', 5090)
  send(5090, 7)
  assert.equal(q.next(10_200), null, 'nobody has reported for 5 s: the stream would go to nobody')
  q.progress('c', 7, 's2', 10_300)
  send(10_300, 8)
})

test('a chunk sent to one gateway alone leaves the broadcast for it, and for nobody else', () => {
  const q = new ChunkQueue(16, 5000)
  q.join('a', [0, 1], 0)
  q.join('b', [1], 0)
  q.want('a', [0, 1])
  assert.deepEqual(q.next(0), { index: 0, to: 'a' })
  q.sent({ index: 0, to: 'a' })
  assert.deepEqual(q.next(0), { index: 1, to: 'a' })
  q.sent({ index: 1, to: 'a' })
  assert.deepEqual(q.next(0), { index: 1, to: 'shared' }, 'b still needs chunk 1')
  q.sent({ index: 1, to: 'shared' })
  assert.equal(q.next(0), null)
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

test('while the shared stream flows, a gateway whose batch is in does not ask for the next one: the stream brings it', () => {
  const miss = Array.from({ length: 64 }, (_, i) => i)
  const missing = (max: number) => miss.slice(0, max)
  const w = new WantPlan(0)
  w.reconnected(0)
  const first = w.next(0, missing)
  assert.equal(first?.reason, 'reconnect')
  for (const i of first?.indices ?? []) w.written(i, 100)
  miss.splice(0, WANT_MAX)
  w.heard(150)
  assert.equal(w.next(200, missing), null, 'the stream flows')
  // The stream stopped 3 s ago: the next batch.
  assert.equal(w.next(150 + WANT_IDLE_MS, missing)?.reason, 'batch')
})

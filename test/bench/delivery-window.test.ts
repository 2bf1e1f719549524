import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { DeliveryWindow } from '../../bench/lib/delivery-window.ts'

test('deliveries that arrive after a stall are taken back out of lost, so the window stays at its limit', () => {
  const w = new DeliveryWindow(10)
  w.onSent(w.room())
  assert.equal(w.writeOff(), 10)
  for (let i = 0; i < 10; i++) w.onDelivered()
  assert.equal(w.lost, 0)
  assert.equal(w.outstanding(), 0)
  assert.equal(w.room(), 10)
})

test('a late delivery is counted as new while anything sent after the stall is outstanding', () => {
  const w = new DeliveryWindow(10)
  w.onSent(10)
  w.writeOff()
  w.onSent(4)
  for (let i = 0; i < 6; i++) w.onDelivered()
  // Four of the six could be the new sends; the other two are proven late.
  assert.equal(w.lost, 8)
  assert.equal(w.outstanding(), 0)
  assert.equal(w.room(), 10)
})

type Op = { kind: 'send' | 'deliver' | 'drop'; n: number } | { kind: 'stall' }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constantFrom('send' as const, 'deliver' as const, 'drop' as const), n: fc.integer({ min: 1, max: 40 }) }),
  fc.constant({ kind: 'stall' as const }),
)

test('any interleaving of sends, deliveries, drops and stalls keeps room within the limit and lost to what was dropped', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 32 }), fc.array(op, { maxLength: 200, size: 'max' }), (limit, ops) => {
      const w = new DeliveryWindow(limit)
      let inFlight = 0
      let dropped = 0
      const check = (): void => {
        assert.ok(w.room() >= 0 && w.room() <= limit, `room ${w.room()} outside 0..${limit}`)
        assert.ok(w.lost <= w.sent - w.delivered, `lost ${w.lost} > undelivered ${w.sent - w.delivered}`)
      }
      for (const o of ops) {
        if (o.kind === 'send') {
          const n = Math.min(o.n, w.room())
          w.onSent(n)
          inFlight += n
        } else if (o.kind === 'deliver') {
          const n = Math.min(o.n, inFlight)
          for (let i = 0; i < n; i++) w.onDelivered()
          inFlight -= n
        } else if (o.kind === 'drop') {
          const n = Math.min(o.n, inFlight)
          inFlight -= n
          dropped += n
        } else if (w.outstanding() > 0) w.writeOff()
        check()
      }
      // Everything the broker did not drop arrives, then a last stall writes off the rest.
      for (; inFlight > 0; inFlight--) w.onDelivered()
      if (w.outstanding() > 0) w.writeOff()
      check()
      assert.equal(w.lost, dropped)
    }),
    { numRuns: 500 },
  )
})

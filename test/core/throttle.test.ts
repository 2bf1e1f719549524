import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { FakeClock, Throttle } from '../../src/core/index.ts'

test('the first trigger runs at once; triggers within the gap fold into one run at its end', () => {
  const clock = new FakeClock(1000)
  const at: number[] = []
  const t = new Throttle(clock, 1000, () => at.push(clock.now()))
  t.trigger()
  assert.deepEqual(at, [1000])
  clock.advance(100)
  t.trigger()
  t.trigger()
  assert.deepEqual(at, [1000], 'nothing more inside the gap')
  clock.advance(900)
  assert.deepEqual(at, [1000, 2000], 'one run for both, at the end of the gap')
  clock.advance(5000)
  t.trigger()
  assert.deepEqual(at, [1000, 2000, 7000], 'after a quiet gap it runs at once again')
  t.trigger()
  t.cancel()
  clock.advance(5000)
  assert.equal(at.length, 3, 'a cancelled run does not happen')
  assert.equal(clock.pending(), 0)
})

test('however triggers arrive, runs are at least a gap apart, and every trigger is followed by a run within one gap', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 500 }), fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 60 }), (gap, steps) => {
      const clock = new FakeClock(0)
      const runs: number[] = []
      const t = new Throttle(clock, gap, () => runs.push(clock.now()))
      const triggers: number[] = []
      for (const s of steps) {
        clock.advance(s)
        triggers.push(clock.now())
        t.trigger()
      }
      clock.advance(gap)
      for (let i = 1; i < runs.length; i++) assert.ok((runs[i] as number) - (runs[i - 1] as number) >= gap)
      for (const at of triggers) assert.ok(runs.some((r) => r >= at && r <= at + gap), `trigger at ${at} answered within ${gap}: ${runs.join(',')}`)
    }),
  )
})

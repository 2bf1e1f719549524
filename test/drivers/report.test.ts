import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Reading } from '../../src/core/index.ts'
import fc from 'fast-check'
import { roundFloat32 } from '../../src/drivers/modbus/codec.ts'
import { ReportFilter } from '../../src/drivers/report.ts'

const r = (value: Reading['value'], ts: number, quality: Reading['quality'] = 'good'): Reading => ({ device: 'd', point: 'p', value, ts, quality })

describe('report by exception', () => {
  test('without a deadband every reading is published', () => {
    const f = new ReportFilter()
    const rule = { maxSilence: 0, staleAfter: 0 }
    assert.equal(f.offer(r(1, 0), rule, 0), true)
    assert.equal(f.offer(r(1, 1), rule, 1), true)
  })
  test('with a deadband only changes of at least the deadband are published, plus one after max_silence', () => {
    const f = new ReportFilter()
    const rule = { deadband: 0.5, maxSilence: 1000, staleAfter: 0 }
    const seen = [20, 20.3, 20.5, 20.6, 20.2, 21.2].map((v, i) => f.offer(r(v, i * 10), rule, i * 10))
    // 20 first; 20.3 within 0.5 of 20; 20.5 moved by 0.5; 20.6/20.2 within 0.5 of 20.5; 21.2 beyond
    assert.deepEqual(seen, [true, false, true, false, false, true])
    assert.equal(f.offer(r(21.2, 999), rule, 999), false)
    assert.equal(f.offer(r(21.2, 1050), rule, 1050), true)
  })
  test('property: a step of exactly the deadband is never dropped and a smaller one always is, whatever the float rounding (0.1 °C steps of a float32 or a x0.1 register)', () => {
    const decimal = (tenths: number, float32: boolean): number => (float32 ? roundFloat32(Math.fround(tenths / 10)) : Number((tenths * 0.1).toPrecision(12)))
    fc.assert(
      fc.property(fc.integer({ min: -5000, max: 5000 }), fc.array(fc.constantFrom(-1, 1), { minLength: 1, maxLength: 30 }), fc.boolean(), (start, steps, float32) => {
        const f = new ReportFilter()
        const rule = { deadband: 0.1, maxSilence: 0, staleAfter: 0 }
        let tenths = start
        f.offer(r(decimal(tenths, float32), 0), rule, 0)
        steps.forEach((s, i) => {
          tenths += s
          assert.equal(f.offer(r(decimal(tenths, float32), i + 1), rule, i + 1), true, `step to ${decimal(tenths, float32)}`)
          // half a step away from what was just published: within the deadband
          const half = (tenths + s / 2) / 10
          assert.equal(f.offer(r(float32 ? roundFloat32(Math.fround(half)) : half, i + 1), rule, i + 1), false, `half step to ${half}`)
        })
      }),
      { seed: 11, numRuns: 300 },
    )
  })

  test('a deadband of 0 publishes any change and non-numeric values on change', () => {
    const f = new ReportFilter()
    const rule = { deadband: 0, maxSilence: 0, staleAfter: 0 }
    assert.deepEqual(
      [true, true, false, 'on', 'on', 'off'].map((v, i) => f.offer(r(v, i), rule, i)),
      [true, false, true, true, false, true],
    )
  })
  test('a change of quality is always published', () => {
    const f = new ReportFilter()
    const rule = { deadband: 10, maxSilence: 0, staleAfter: 0 }
    assert.equal(f.offer(r(1, 0), rule, 0), true)
    assert.equal(f.offer(r(1, 1, 'error'), rule, 1), true)
    assert.equal(f.offer(r(1, 2, 'error'), rule, 2), false)
    assert.equal(f.offer(r(1, 3), rule, 3), true)
  })
})

describe('staleness', () => {
  test('a good value older than stale_after is reported stale once, keeping its measured time', () => {
    const f = new ReportFilter()
    const rule = { maxSilence: 0, staleAfter: 100 }
    f.offer(r(5, 1000), rule, 1000)
    assert.deepEqual(f.stale(1099, () => rule), [])
    assert.deepEqual(f.stale(1100, () => rule), [{ device: 'd', point: 'p', value: 5, ts: 1000, quality: 'stale' }])
    assert.deepEqual(f.stale(1200, () => rule), [])
    f.offer(r(6, 1300), rule, 1300)
    assert.equal(f.stale(1400, () => rule).length, 1)
  })
})

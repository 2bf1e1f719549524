import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { PointHistory, POINT_BUCKET_MS, POINT_BUCKETS, Ring } from '../../src/status/history.ts'

test('a ring holds min, max and last per bucket for the last hour, and forgets what is older', () => {
  const r = new Ring(1000, 5)
  for (const [t, v] of [[0, 3], [500, 1], [900, 2], [1000, 7], [4999, 4]] as const) r.add(t, v)
  assert.deepEqual(r.series(4999), [[0, 1, 3, 2], [1000, 7, 7, 7], [4000, 4, 4, 4]])
  r.add(5000, 9) // bucket 5 reuses bucket 0's slot
  assert.deepEqual(r.series(5000), [[1000, 7, 7, 7], [4000, 4, 4, 4], [5000, 9, 9, 9]])
  r.add(100, 100) // older than the window: ignored, never overwrites a newer bucket
  assert.deepEqual(r.series(5000).map((b) => b[0]), [1000, 4000, 5000])
})

test('a ring agrees with a plain model for any sequence of readings (seeded)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 60_000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), { maxLength: 200, size: 'max' }), (raw) => {
      const rs = [...raw].sort((a, b) => a[0] - b[0])
      const r = new Ring(1000, 10)
      for (const [t, v] of rs) r.add(t, v)
      const now = rs.length ? (rs.at(-1) as [number, number])[0] : 0
      const model = new Map<number, [number, number, number, number]>()
      for (const [t, v] of rs) {
        const b = Math.floor(t / 1000)
        if (b <= Math.floor(now / 1000) - 10) continue
        const m = model.get(b)
        model.set(b, m ? [b * 1000, Math.min(m[1], v), Math.max(m[2], v), v] : [b * 1000, v, v, v])
      }
      assert.deepEqual(r.series(now), [...model.values()])
    }),
    { seed: 1302, numRuns: 300 },
  )
})

test('memory per point is fixed: 100 points fed for a simulated hour and more hold exactly 100 x 5,760 bytes of arrays', () => {
  const h = new PointHistory(2000)
  const t0 = 1_800_000_000_000
  for (let s = 0; s < 2 * 3600; s += 5) for (let p = 0; p < 100; p++) h.add(`dev${p % 10}`, `p${p}`, t0 + s * 1000, Math.sin(s / 60) + p)
  assert.equal(h.size, 100)
  assert.equal(h.bytes, 100 * 4 * POINT_BUCKETS * 8)
  const spark = h.sparklines(t0 + 2 * 3600 * 1000 - 1)
  assert.equal(spark.step, POINT_BUCKET_MS)
  assert.equal(spark.points.dev0?.p0?.filter((v) => v !== null).length, POINT_BUCKETS)
})

test('the number of charted points is bounded; strings are not charted', () => {
  const h = new PointHistory(3)
  for (let p = 0; p < 10; p++) h.add('d', `p${p}`, 1000, p)
  h.add('d', 'label', 1000, 'on')
  assert.equal(h.size, 3)
})

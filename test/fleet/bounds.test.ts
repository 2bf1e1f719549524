import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fieldsWithin, newestWithin, RateLimit } from '../../src/fleet/bounds.ts'
import { LogRing } from '../../src/logging.ts'

test('the rate limit allows a burst, then one request per period, and says how long to wait', () => {
  const r = new RateLimit(3, 1000, 0)
  assert.deepEqual([r.take(0), r.take(0), r.take(0)], [0, 0, 0])
  assert.equal(r.take(0), 1000)
  assert.equal(r.take(400), 600)
  assert.equal(r.take(1000), 0)
  assert.equal(r.take(1000), 1000)
  assert.equal(r.take(100_000), 0, 'refills, but never beyond the burst')
  assert.deepEqual([r.take(100_000), r.take(100_000), r.take(100_000)], [0, 0, 1000])
})

test('log lines: the newest that fit the byte bound, oldest first, with the count left out', () => {
  const lines = Array.from({ length: 10 }, (_, i) => `line-${i}`.padEnd(96, '.'))
  const { lines: kept, omitted } = newestWithin(lines, 350)
  assert.deepEqual(kept, lines.slice(7))
  assert.equal(omitted, 7)
  assert.deepEqual(newestWithin(lines, 10_000), { lines, omitted: 0 })
})

test('status fields: whole top-level fields while they fit, the others named', () => {
  const v = { version: '1', sources: { big: 'x'.repeat(500) }, health: 'ok' }
  const { value, omitted } = fieldsWithin(v, 100)
  assert.deepEqual(value, { version: '1', health: 'ok' })
  assert.deepEqual(omitted, ['sources'])
})

test('the log ring keeps the newest lines within its line and byte bounds', () => {
  const ring = new LogRing(5, 1000)
  for (let i = 0; i < 8; i++) ring.push(`{"n":${i}}\n`)
  assert.deepEqual(ring.recent(100), ['{"n":3}', '{"n":4}', '{"n":5}', '{"n":6}', '{"n":7}'])
  assert.deepEqual(ring.recent(2), ['{"n":6}', '{"n":7}'])
  const small = new LogRing(100, 30)
  for (let i = 0; i < 8; i++) small.push(`{"n":${i}}`)
  assert.deepEqual(small.recent(100), ['{"n":4}', '{"n":5}', '{"n":6}', '{"n":7}'])
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Backoff, jitter } from '../../src/core/backoff.ts'
import { FakeClock } from '../../src/core/clock.ts'

test('backoff delays stay between base and cap and grow from the base', () => {
  let r = 0
  const b = new Backoff(100, 5000, () => (r = (r + 0.37) % 1))
  const delays = Array.from({ length: 50 }, () => b.next())
  for (const d of delays) assert.ok(d >= 100 && d <= 5000, `delay ${d} out of range`)
  assert.ok(Math.max(...delays) > 1000, 'delays should grow toward the cap')
  b.reset()
  assert.ok(b.next() <= 300, 'after reset the next delay is near the base')
})

test('backoff rejects a cap below the base', () => {
  assert.throws(() => new Backoff(1000, 10), TypeError)
})

test('jitter stays within the fraction', () => {
  assert.equal(jitter(1000, 0.1, () => 0), 900)
  assert.equal(jitter(1000, 0.1, () => 1), 1100)
})

test('fake clock fires timers in order when advanced', () => {
  const c = new FakeClock(0)
  const fired: string[] = []
  c.setTimeout(() => fired.push('b'), 20)
  c.setTimeout(() => fired.push('a'), 10)
  const h = c.setInterval(() => fired.push('i'), 15)
  c.advance(31)
  c.clearInterval(h)
  c.advance(100)
  assert.deepEqual(fired, ['a', 'i', 'b', 'i'])
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isLoopbackHost, listenerAllowsAnonymous } from '../../../src/broker/auth/anonymous.ts'
import { DEFAULT_GUARD, FailureGuard, normalizeAddress } from '../../../src/broker/auth/guard.ts'
import { PublishRateLimiter, type RateEvent } from '../../../src/broker/auth/rate.ts'
import { FakeClock } from '../../../src/core/clock.ts'

test('loopback bind addresses allow anonymous clients by default and every other address refuses them', () => {
  for (const h of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
    assert.equal(isLoopbackHost(h), true, h)
    assert.equal(listenerAllowsAnonymous({ host: h }), true, h)
  }
  for (const h of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'fe80::1', 'gateway.local', '128.0.0.1', '::ffff:10.0.0.1']) {
    assert.equal(isLoopbackHost(h), false, h)
    assert.equal(listenerAllowsAnonymous({ host: h }), false, h)
  }
})

test('an explicit allow_anonymous wins over the bind address in both directions', () => {
  assert.equal(listenerAllowsAnonymous({ host: '0.0.0.0', allowAnonymous: true }), true)
  assert.equal(listenerAllowsAnonymous({ host: '127.0.0.1', allowAnonymous: false }), false)
})

test('failed logins from one address delay its answers, then lock it out until they age out', () => {
  const clock = new FakeClock(1_000_000)
  const guard = new FailureGuard({ ...DEFAULT_GUARD, delayAfter: 3, lockoutAfter: 6, window: 60_000, baseDelay: 500, maxDelay: 4000 }, clock)
  const seen: number[] = []
  for (let i = 0; i < 6; i++) {
    seen.push(guard.check('10.0.0.5').delay)
    guard.fail('10.0.0.5')
  }
  assert.deepEqual(seen, [0, 0, 0, 500, 1000, 2000])
  assert.equal(guard.check('10.0.0.5').locked, true)
  assert.equal(guard.check('::ffff:10.0.0.5').locked, true, 'IPv4-mapped form is the same client')
  assert.equal(guard.check('10.0.0.6').delay, 0, 'other addresses are unaffected')
  assert.equal(guard.status().lockedAddresses, 1)
  clock.advance(60_001)
  assert.deepEqual(guard.check('10.0.0.5'), { failures: 0, delay: 0, locked: false, busy: false })
  assert.equal(guard.status().trackedAddresses, 0)
  assert.equal(normalizeAddress('::1'), '::1')
})

test('attempts in flight count towards the lockout until they finish; successes are then not counted', () => {
  const clock = new FakeClock(1_000_000)
  const guard = new FailureGuard({ ...DEFAULT_GUARD, delayAfter: 100, lockoutAfter: 3 }, clock)
  const a = '10.0.0.5'
  assert.deepEqual(
    [1, 2, 3, 4].map(() => guard.begin(a).busy),
    [false, false, false, true],
    'the fourth parallel attempt is refused before any of the first three is checked',
  )
  assert.equal(guard.begin('10.0.0.6').busy, false, 'other addresses are unaffected')
  guard.finish('10.0.0.6', false)
  assert.equal(guard.finish(a, false), 0, 'a success is not a failure')
  assert.equal(guard.begin(a).busy, false, 'its place is free again')
  assert.equal(guard.finish(a, true), 1)
  assert.equal(guard.finish(a, true), 2)
  assert.equal(guard.finish(a, false), 2, 'the last of the three in flight succeeds')
  assert.deepEqual(guard.begin(a), { failures: 2, delay: 0, locked: false, busy: false })
  assert.equal(guard.begin(a).busy, true, 'two failures and one in flight')
  assert.equal(guard.finish(a, true), 3)
  assert.equal(guard.begin(a).locked, true)
  assert.equal(guard.status().lockedAddresses, 1)
})

test('the guard tracks a bounded number of addresses', () => {
  const clock = new FakeClock()
  const guard = new FailureGuard({ ...DEFAULT_GUARD, maxTracked: 10 }, clock)
  for (let i = 0; i < 100; i++) guard.fail(`10.0.${i}.1`)
  assert.equal(guard.status().trackedAddresses, 10)
  assert.equal(guard.status().totalFailures, 100)
})

test('the publish bucket admits a burst, then asks for pauses that match the refill rate', () => {
  const clock = new FakeClock()
  const events: RateEvent[] = []
  const rate = new PublishRateLimiter(10, 5, clock, (e) => events.push(e))
  const waits = Array.from({ length: 7 }, () => rate.admit('c1'))
  assert.deepEqual(waits, [0, 0, 0, 0, 0, 100, 200])
  assert.equal(rate.admit('c2'), 0, 'another client has its own bucket')
  clock.advance(1000)
  // 10 tokens refilled, capped at the burst of 5: the debt of 2 is repaid first.
  assert.deepEqual(Array.from({ length: 6 }, () => rate.admit('c1')), [0, 0, 0, 0, 0, 100])
  assert.equal(events.length, 1, 'logged once per client per minute')
  assert.equal(rate.limited, 3)
})

test('a client far over its rate is refused instead of paused, without growing its debt', () => {
  const clock = new FakeClock()
  const rate = new PublishRateLimiter(100, 1, clock, undefined, 1000)
  const waits = Array.from({ length: 105 }, () => rate.admit('flood'))
  assert.equal(waits[0], 0)
  // Debt of 100 publishes at 100/s = the 1 s allowed; the rest are refused.
  assert.ok(waits.slice(1, 101).every((w) => w > 0 && w <= 1000))
  assert.deepEqual(waits.slice(101), [-1, -1, -1, -1])
  assert.equal(rate.refused, 4)
  clock.advance(2000)
  assert.equal(rate.admit('flood'), 0, 'after the debt is repaid the client publishes again')
})

test('idle buckets are forgotten', () => {
  const clock = new FakeClock()
  const rate = new PublishRateLimiter(10, 10, clock)
  for (let i = 0; i < 50; i++) rate.admit(`c${i}`)
  assert.equal(rate.tracked, 50)
  clock.advance(120_000)
  rate.admit('fresh')
  assert.equal(rate.tracked, 1)
})

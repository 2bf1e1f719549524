import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import { LogLimiter } from '../../src/core/log-limit.ts'
import type { Logger } from '../../src/core/logger.ts'
import { captureLogger, type LogLine } from '../helpers/logger.ts'

function recorder(): { logger: Logger; lines: LogLine[] } {
  const logger = captureLogger()
  return { logger, lines: logger.lines }
}

test('the first line of a reason is written at once; repeats within the interval become one summary line with the count', () => {
  const clock = new FakeClock(1_000)
  const { logger, lines } = recorder()
  const l = new LogLimiter(logger, clock, { intervalMs: 10_000 })
  l.log('warn', 'malformed', { clientId: 'a' }, 'closing a: malformed packet')
  assert.equal(lines.length, 1)
  assert.equal(lines[0]?.msg, 'closing a: malformed packet')
  for (let i = 0; i < 125; i++) {
    clock.advance(10)
    l.log('warn', 'malformed', { clientId: `c${i}` }, `closing c${i}: malformed packet`)
  }
  assert.equal(lines.length, 1, 'repeats are held back')
  clock.advance(10_000)
  assert.equal(lines.length, 2)
  assert.equal(lines[1]?.level, 'warn')
  assert.equal(lines[1]?.obj.repeated, 125)
  assert.equal(lines[1]?.obj.clientId, 'c124', 'the summary names the latest case')
  assert.match(lines[1]?.msg ?? '', /^125 more in the last 10 s like: closing c124/)
})

test('a flood that goes on gives one summary per interval, and a reason that went quiet is logged in full again', () => {
  const clock = new FakeClock(0)
  const { logger, lines } = recorder()
  const l = new LogLimiter(logger, clock, { intervalMs: 10_000 })
  // 35 s of one line per 100 ms
  for (let i = 0; i < 350; i++) {
    l.log('info', 'refused', {}, `refused ${i}`)
    clock.advance(100)
  }
  clock.advance(10_000)
  const summaries = lines.filter((x) => x.obj.repeated !== undefined)
  assert.equal(lines.length - summaries.length, 1, 'one full line')
  assert.equal(summaries.length, 4, 'one summary per 10 s of flood, the last after it stopped')
  assert.equal(
    summaries.reduce((n, x) => n + (x.obj.repeated as number), 0),
    349,
    'every repeat is counted exactly once',
  )
  clock.advance(60_000)
  l.log('info', 'refused', {}, 'refused again')
  assert.equal(lines.at(-1)?.msg, 'refused again')
  assert.equal(lines.at(-1)?.obj.repeated, undefined)
})

test('reasons are limited independently', () => {
  const clock = new FakeClock(0)
  const { logger, lines } = recorder()
  const l = new LogLimiter(logger, clock, { intervalMs: 10_000 })
  l.log('warn', 'a', {}, 'a1')
  l.log('warn', 'b', {}, 'b1')
  l.log('warn', 'a', {}, 'a2')
  l.log('error', 'c', {}, 'c1')
  assert.deepEqual(
    lines.map((x) => x.msg),
    ['a1', 'b1', 'c1'],
  )
  clock.advance(10_000)
  assert.deepEqual(
    lines.map((x) => x.msg),
    ['a1', 'b1', 'c1', '1 more in the last 10 s like: a2'],
  )
})

test('flush writes pending summaries at once and leaves no timer behind', () => {
  const clock = new FakeClock(0)
  const { logger, lines } = recorder()
  const l = new LogLimiter(logger, clock, { intervalMs: 10_000 })
  l.log('warn', 'x', {}, 'x1')
  l.log('warn', 'x', {}, 'x2')
  l.log('warn', 'x', {}, 'x3')
  assert.equal(clock.pending(), 1)
  l.flush()
  assert.equal(clock.pending(), 0)
  assert.equal(lines.at(-1)?.obj.repeated, 2)
})

test('the number of remembered reasons is bounded', () => {
  const clock = new FakeClock(0)
  const { logger, lines } = recorder()
  const l = new LogLimiter(logger, clock, { intervalMs: 10_000, maxKeys: 8 })
  for (let i = 0; i < 100; i++) l.log('warn', `k${i}`, {}, `k${i}`)
  assert.ok(l.size <= 8, `${l.size} keys remembered`)
  assert.equal(lines.length, 100, 'distinct reasons are each logged')
})

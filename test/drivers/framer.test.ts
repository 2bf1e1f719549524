import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { FakeClock } from '../../src/core/index.ts'
import { DelimiterFramer, IdleFramer } from '../../src/drivers/serial/framer.ts'

describe('delimiter framing', () => {
  test('joins chunks and splits on the delimiter, keeping the unfinished tail', () => {
    const f = new DelimiterFramer(Buffer.from('\r\n'), 100)
    assert.deepEqual(f.push(Buffer.from('ab')).map(String), [])
    assert.deepEqual(f.push(Buffer.from('c\r\nde\r')).map(String), ['abc'])
    assert.deepEqual(f.push(Buffer.from('\nf\r\n')).map(String), ['de', 'f'])
  })
  test('drops and counts a run longer than max_frame without a delimiter', () => {
    const f = new DelimiterFramer(Buffer.from('\n'), 4)
    assert.deepEqual(f.push(Buffer.from('123456')).map(String), [])
    assert.equal(f.overflows, 1)
    assert.deepEqual(f.push(Buffer.from('ok\n')).map(String), ['ok'])
  })
  test('rejects an empty delimiter naming the option', () => {
    assert.throws(() => new DelimiterFramer(Buffer.alloc(0), 10), /delimiter/)
  })
})

describe('inter-byte timeout framing', () => {
  test('ends a frame after the line was idle for frame_timeout', () => {
    const clock = new FakeClock()
    const frames: string[] = []
    const f = new IdleFramer(20, 100, clock, (b) => frames.push(b.toString()))
    f.push(Buffer.from('ab'))
    clock.advance(10)
    f.push(Buffer.from('cd'))
    clock.advance(19)
    assert.deepEqual(frames, [])
    clock.advance(1)
    assert.deepEqual(frames, ['abcd'])
    f.push(Buffer.from('x'))
    clock.advance(20)
    assert.deepEqual(frames, ['abcd', 'x'])
    assert.equal(clock.pending(), 0)
  })
})

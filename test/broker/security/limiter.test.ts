import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { HashLimiter, type Admission, type Release } from '../../../src/broker/auth/limiter.ts'

const settle = (): Promise<void> => new Promise((r) => setImmediate(r))

test('the hash limiter bounds hashes globally and per address, refuses past the wait queue, and serves the address served longest ago first', async () => {
  const lim = new HashLimiter({ maxRunning: 2, maxRunningPerAddress: 1, maxWaitingPerAddress: 2 })
  const order: string[] = []
  const slots = new Map<string, Release>()
  const take = (name: string, address: string): void => {
    void lim.acquire(address).then((a: Admission) => {
      order.push(`${name}:${typeof a === 'function' ? 'run' : a}`)
      if (typeof a === 'function') slots.set(name, a)
    })
  }
  for (const n of ['a1', 'a2', 'a3', 'a4']) take(n, '10.0.0.1')
  take('b1', '10.0.0.2')
  take('c1', '::ffff:10.0.0.3')
  take('c2', '10.0.0.3')
  await settle()
  assert.deepEqual(order, ['a1:run', 'a4:busy', 'b1:run'])
  assert.deepEqual([lim.running, lim.waiting, lim.refused], [2, 4, 1])
  slots.get('a1')?.()
  await settle()
  assert.deepEqual(order.slice(3), ['c1:run'], 'c has not had a turn yet; a has')
  slots.get('b1')?.()
  await settle()
  assert.deepEqual(order.slice(4), ['a2:run'])
  slots.get('c1')?.()
  slots.get('c1')?.() // a second release changes nothing
  await settle()
  assert.deepEqual(order.slice(5), ['c2:run'])
  assert.equal(lim.running, 2)
  slots.get('a2')?.()
  slots.get('c2')?.()
  await settle()
  assert.deepEqual(order.slice(6), ['a3:run'])
  slots.get('a3')?.()
  assert.deepEqual([lim.running, lim.waiting, lim.peakRunning, lim.peakWaiting], [0, 0, 2, 4])
})

test('a waiting login whose connection closed gives its turn away without a hash', async () => {
  const lim = new HashLimiter({ maxRunning: 1, maxRunningPerAddress: 1, maxWaitingPerAddress: 4 })
  const first = await lim.acquire('10.0.0.1')
  assert.equal(typeof first, 'function')
  let open = true
  const gone = lim.acquire('10.0.0.2', () => open)
  const next = lim.acquire('10.0.0.3')
  open = false
  ;(first as Release)()
  assert.equal(await gone, 'gone')
  assert.equal(typeof (await next), 'function')
  assert.equal(lim.abandoned, 1)
})

test('under any sequence of logins and releases the limiter keeps its bounds and every login is answered once', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.record({ maxRunning: fc.integer({ min: 1, max: 3 }), maxRunningPerAddress: fc.integer({ min: 1, max: 2 }), maxWaitingPerAddress: fc.integer({ min: 0, max: 3 }) }),
      fc.array(fc.oneof(fc.record({ acquire: fc.integer({ min: 0, max: 3 }), open: fc.boolean() }), fc.record({ release: fc.nat(20) })), { maxLength: 60, size: 'max' }),
      async (opts, steps) => {
        const lim = new HashLimiter(opts)
        const running: Array<{ address: number; release: Release }> = []
        let asked = 0
        let answered = 0
        const check = (): void => {
          assert.ok(lim.running <= opts.maxRunning)
          assert.equal(lim.running, running.length)
          for (let a = 0; a < 4; a++) assert.ok(running.filter((r) => r.address === a).length <= opts.maxRunningPerAddress)
        }
        const acquire = (address: number, open: boolean): void => {
          asked++
          void lim.acquire(`10.0.0.${address}`, () => open).then((a) => {
            answered++
            if (typeof a === 'function') running.push({ address, release: a })
          })
        }
        for (const s of steps) {
          if ('acquire' in s) acquire(s.acquire, s.open)
          else if (running.length > 0) running.splice(s.release % running.length, 1)[0]?.release()
          await settle()
          check()
        }
        // Releasing everything answers every login still waiting.
        for (let i = 0; i < asked && (running.length > 0 || lim.waiting > 0); i++) {
          running.shift()?.release()
          await settle()
          check()
        }
        assert.equal(answered, asked)
        assert.deepEqual([lim.running, lim.waiting], [0, 0])
      },
    ),
    { numRuns: 200, seed: 20261206 },
  )
})

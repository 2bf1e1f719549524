import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import type { Status } from '../../src/core/types.ts'
import { updateHealth } from '../../src/gateway/update.ts'
import { awaitHealthy, type HealthVerdict } from '../../src/update/health-gate.ts'

const ok = (): HealthVerdict => ({ healthy: true, waitingFor: [] })
const waiting = (): HealthVerdict => ({ healthy: false, waitingFor: ['uplink cloud connecting'] })

test('the gate passes at the first healthy probe and says when', async () => {
  const clock = new FakeClock(1000)
  const healthyFrom = 1750
  const g = awaitHealthy(() => (clock.now() >= healthyFrom ? ok() : waiting()), { deadlineMs: 5000, intervalMs: 250, clock })
  clock.advance(1000)
  assert.deepEqual(await g.result, { ok: true, afterMs: 750 })
})

test('the gate fails at its deadline with what it was still waiting for, after a bounded number of probes', async () => {
  const clock = new FakeClock(0)
  let probes = 0
  const g = awaitHealthy(() => (probes++, waiting()), { deadlineMs: 1000, intervalMs: 300, clock })
  clock.advance(5000)
  assert.deepEqual(await g.result, { ok: false, waitingFor: ['uplink cloud connecting'] })
  // at 0, 300, 600, 900 and the deadline itself
  assert.equal(probes, 5)
})

test('cancel ends the wait as not passed', async () => {
  const clock = new FakeClock(0)
  const g = awaitHealthy(waiting, { deadlineMs: 1000, intervalMs: 300, clock })
  g.cancel()
  assert.equal((await g.result).ok, false)
})

test("the gateway's verdict: every uplink online and the store and broker not down", () => {
  const s = (health: Status['health'], details: Record<string, unknown> = {}, reason?: string): Status => ({ health, details, ...(reason ? { reason } : {}) })
  assert.deepEqual(updateHealth({ store: s('ok'), broker: s('ok'), 'uplink:cloud': s('ok', { state: 'online' }) }), { healthy: true, waitingFor: [] })
  assert.deepEqual(updateHealth({ store: s('degraded'), broker: s('ok') }), { healthy: true, waitingFor: [] })
  assert.deepEqual(updateHealth({ store: s('down', {}, 'disk full'), broker: s('ok'), 'uplink:cloud': s('down', { state: 'backoff', lastError: 'Not authorized' }) }), {
    healthy: false,
    waitingFor: ['store: disk full', 'uplink cloud backoff (Not authorized)'],
  })
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { COLD_START_SETTLED_MS, coldStartSettled } from '../../src/fleet/index.ts'

test('a cold start on a committed remote config is settled when healthy as for a commit, or after running a minute without the cloud', () => {
  assert.equal(coldStartSettled({ aliveMs: 5_000, linkOnline: true, requiredOk: true }), true, 'reached the cloud: settled at once')
  assert.equal(coldStartSettled({ aliveMs: 5_000, linkOnline: true, requiredOk: false }), false)
  assert.equal(coldStartSettled({ aliveMs: 5_000, linkOnline: false, requiredOk: false }), false, 'a few seconds without the cloud: still counted')
  // A cloud outage is not the committed config's fault: power cuts during one must not drop it.
  assert.equal(coldStartSettled({ aliveMs: COLD_START_SETTLED_MS, linkOnline: false, requiredOk: false }), true)
  assert.equal(coldStartSettled({ aliveMs: COLD_START_SETTLED_MS - 1, linkOnline: false, requiredOk: false }), false)
})

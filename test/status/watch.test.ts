import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Status } from '../../src/core/index.ts'
import { UPLINK_BUCKET_MS } from '../../src/status/history.ts'
import { StatusState } from '../../src/status/state.ts'
import { SourceWatch } from '../../src/status/watch.ts'

const T0 = 1_800_000_000_000
const uplink = (backlog: number, published: number, health: Status['health'] = 'ok'): Record<string, Status> => ({ 'uplink:cloud': { health, details: { backlog, published } } })

test('the uplink chart keeps the highest backlog and send rate of each 10 s bucket, from every 2 s tick', () => {
  assert.equal(T0 % UPLINK_BUCKET_MS, 0)
  const watch = new SourceWatch(new StatusState())
  watch.tick(uplink(0, 0), T0)
  watch.tick(uplink(45, 0), T0 + 2000) // the peak, between two bucket starts
  watch.tick(uplink(10, 40), T0 + 4000) // 40 sent in 2 s: 20/s
  watch.tick(uplink(0, 50), T0 + 6000) // 10 in 2 s: 5/s
  const s = watch.uplinks.series(T0 + 9000).cloud
  assert.deepEqual(s?.backlog, [[T0, 0, 45, 0]], 'lowest, highest, last backlog in the bucket')
  assert.deepEqual(s?.rate, [[T0, 0, 20, 5]], 'lowest, highest, last rate in the bucket')
})

test('recent problems: a module that goes down and recovers is listed twice; one that was only starting up is not "ok again"', () => {
  const state = new StatusState()
  const watch = new SourceWatch(state)
  watch.tick(uplink(0, 0, 'degraded'), T0) // connecting at start
  watch.tick(uplink(0, 0, 'ok'), T0 + 2000)
  assert.deepEqual(state.recentProblems(), [], 'an uplink that connected after start had no problem')
  watch.tick({ 'uplink:cloud': { health: 'degraded', reason: 'connection closed', details: {} } }, T0 + 4000)
  watch.tick(uplink(0, 0, 'ok'), T0 + 6000)
  assert.deepEqual(state.recentProblems().map((e) => [e.ts, e.source, e.state, e.reason]), [
    [T0 + 4000, 'uplink:cloud', 'degraded', 'connection closed'],
    [T0 + 6000, 'uplink:cloud', 'ok again', undefined],
  ])
})

import assert from 'node:assert/strict'
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import { test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { releaseStartupMemory } from '../../src/core/index.ts'

test('releaseStartupMemory runs a full (major) collection at once, and leaves gc unexposed', async () => {
  const seen: PerformanceEntry[] = []
  const obs = new PerformanceObserver((list) => seen.push(...list.getEntries()))
  obs.observe({ entryTypes: ['gc'] })
  try {
    await sleep(1)
    seen.length = 0
    assert.equal(releaseStartupMemory(), true)
    await sleep(20) // gc entries are delivered asynchronously
    const kinds = seen.map((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind)
    assert.ok(kinds.includes(constants.NODE_PERFORMANCE_GC_MAJOR), `gc kinds seen: ${kinds.join(',')}`)
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined')
  } finally {
    obs.disconnect()
  }
})

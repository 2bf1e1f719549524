import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Status } from '../../src/core/index.ts'
import { mergeDevices } from '../../src/status/devices.ts'
import type { DeviceView } from '../../src/status/state.ts'
import { eventSource, startServer } from './helpers.ts'

const T = 1_800_000_000_000

test('a failed read shows the last good value with its own time, not the 0 a Modbus or serial error reading carries', () => {
  // The host keeps the last good value and its time on a failed point; the event stream's error reading says 0, now.
  const drivers: Status = { health: 'degraded', details: { devices: { meter1: { state: 'error', health: 'degraded', points: { voltage: { value: 231.5, ts: T - 60_000, quality: 'error', error: 'timeout' } } } } } }
  const events = new Map<string, DeviceView>([['meter1', { state: 'error', since: T - 1000, points: { voltage: { value: 0, unit: 'V', ts: T, quality: 'error', error: 'timeout after 1000 ms' } } }]])
  const p = mergeDevices(drivers, events).meter1?.points.voltage
  assert.deepEqual(p, { value: 231.5, ts: T - 60_000, quality: 'error', unit: 'V', error: 'timeout after 1000 ms' })
})

test('a point that never read well says so: no value, no time', () => {
  const drivers: Status = { health: 'degraded', details: { devices: { meter1: { state: 'error', points: { voltage: { value: null, ts: null, quality: 'error', error: 'timeout' } } } } } }
  const events = new Map<string, DeviceView>([['meter1', { state: 'error', since: T, points: { voltage: { value: 0, unit: 'V', ts: T, quality: 'error', error: 'timeout' } } }]])
  assert.deepEqual(mergeDevices(drivers, events).meter1?.points.voltage, { value: null, ts: null, quality: 'error', unit: 'V', error: 'timeout' })
})

test('a newer good reading from the event stream wins over the report', () => {
  const drivers: Status = { health: 'ok', details: { devices: { meter1: { state: 'running', points: { voltage: { value: 231.5, ts: T - 1000, quality: 'good', error: null } } } } } }
  const events = new Map<string, DeviceView>([['meter1', { state: 'running', since: T, points: { voltage: { value: 232, unit: 'V', ts: T, quality: 'good' } } }]])
  assert.deepEqual(mergeDevices(drivers, events).meter1?.points.voltage, { value: 232, ts: T, quality: 'good', unit: 'V' })
})

test('a failed read is not charted: the 0 an error reading carries never enters /history', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({ events })
  try {
    const now = Date.now()
    events.emit({ type: 'reading', reading: { device: 'meter1', point: 'voltage', value: 231.5, unit: 'V', ts: now - 1000, quality: 'good' } })
    events.emit({ type: 'reading', reading: { device: 'meter1', point: 'voltage', value: 0, unit: 'V', ts: now, quality: 'error', error: 'timeout' } })
    const h = (await (await fetch(url('/history?device=meter1&point=voltage'))).json()) as { series: Array<[number, number, number, number]> }
    assert.deepEqual(h.series.map(([, lo, hi, last]) => [lo, hi, last]), [[231.5, 231.5, 231.5]])
    // Without a drivers report too (events only), /status keeps the last good value and its time.
    const st = (await (await fetch(url('/status'))).json()) as { devices: Record<string, { points: Record<string, unknown> }> }
    assert.deepEqual(st.devices.meter1?.points.voltage, { value: 231.5, ts: now - 1000, quality: 'error', unit: 'V', error: 'timeout' })
  } finally {
    await server.close()
  }
})

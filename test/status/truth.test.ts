import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import { FakeClock } from '../../src/core/clock.ts'
import type { LocalBroker, Status } from '../../src/core/index.ts'
import { createDriverHost } from '../../src/drivers/index.ts'
import { driverOptions } from '../../src/gateway/options/devices.ts'
import { captureLogger, type LogLine } from '../helpers/logger.ts'
import { eventSource, startServer } from './helpers.ts'

type Snapshot = {
  health: string
  sources: Record<string, Status>
  devices: Record<string, { state: string; health: string; points: Record<string, { value: unknown; quality: string; unit?: string }> }>
  reload: { failed_since_last_good: number; failed_total: number; applied_total: number; first_failed_since_last_good: { reason: string } | null }
}

const device = (points: Record<string, unknown>, state = 'running', health = 'ok') => ({ health, driver: 'serial', state, successes: 3, errors: 0, garbage: 0, lastError: null, pollLatencyMs: 2, points })

test('a stale point shows as stale in the one place /status has it, and a device running in the drivers view is running there too', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const ts = Date.now() - 60_000
  const drivers: Status = { health: 'ok', details: { devices: { meter: device({ flow: { value: 3.2, ts, quality: 'good', error: null } }) }, lines: {}, published: 3 } }
  const { server, url } = await startServer({ events, sources: () => ({ drivers }) })
  try {
    // The host's stale timer marks the point stale with the time of its last good reading.
    events.emit({ type: 'reading', reading: { device: 'meter', point: 'flow', value: 3.2, unit: 'm³/h', ts, quality: 'stale' } })
    const st = (await (await fetch(url('/status'))).json()) as Snapshot
    assert.equal(st.devices.meter?.state, 'running')
    assert.equal(st.devices.meter?.points.flow?.quality, 'stale')
    assert.equal(st.devices.meter?.points.flow?.unit, 'm³/h')
    assert.equal(st.devices.meter?.health, 'degraded', 'a device with a silent point is not all green')
    // No second view of the same device that could disagree.
    const text = JSON.stringify(st.sources)
    assert.ok(!text.includes('"quality"'), 'points appear only under devices')
    assert.equal((st.sources.drivers?.details as { device_count: number }).device_count, 1)
  } finally {
    await server.close()
  }
})

test('/healthz: an unplugged only sensor or a cloud that is down is 200 degraded with reasons; a failing store or no open listener is 503', { timeout: 10_000 }, async () => {
  let sources: Record<string, Status> = {
    broker: { health: 'ok', details: { listeners: [{ name: 'local', port: 1883 }] } },
    store: { health: 'ok', details: {} },
    drivers: { health: 'down', reason: '1 of 1 devices not running', details: { devices: { meter: device({}, 'disconnected', 'down') } } },
    'uplink:cloud': { health: 'down', reason: 'connection refused', details: { state: 'backoff', backlog: 40 } },
  }
  const { server, url } = await startServer({ sources: () => sources })
  try {
    let res = await fetch(url('/healthz'))
    assert.equal(res.status, 200)
    let body = (await res.json()) as { status: string; problems: Array<{ source: string; reason: string }> }
    assert.equal(body.status, 'degraded')
    assert.deepEqual(body.problems.map((p) => p.source).sort(), ['device:meter', 'uplink:cloud'], 'each device speaks for itself')
    assert.equal(body.problems.find((p) => p.source === 'device:meter')?.reason, 'disconnected')
    const st = (await (await fetch(url('/status'))).json()) as Snapshot
    assert.equal(st.health, 'degraded', '/status and /healthz give one verdict')

    sources = { ...sources, broker: { health: 'ok', details: { listeners: [] } } }
    res = await fetch(url('/healthz'))
    assert.equal(res.status, 503)
    body = (await res.json()) as { status: string; problems: Array<{ source: string; reason: string }> }
    assert.match(body.problems.find((p) => p.source === 'broker')?.reason ?? '', /no MQTT listener is open/)

    sources = { ...sources, broker: { health: 'ok', details: { listeners: [{ name: 'local' }] } }, store: { health: 'down', reason: 'ENOSPC', details: {} } }
    assert.equal((await fetch(url('/healthz'))).status, 503)
  } finally {
    await server.close()
  }
})

test('a device the running config no longer has is shown stopped with why, and does not keep the verdict degraded', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const drivers: Status = { health: 'ok', details: { devices: { boiler: device({}) } } }
  const { server, url } = await startServer({ events, sources: () => ({ drivers }) })
  try {
    events.emit({ type: 'state', source: 'drivers', device: 'tank', state: 'stopped' })
    const st = (await (await fetch(url('/status'))).json()) as Snapshot & { devices: Record<string, { reason?: string; configured: boolean }> }
    assert.equal(st.devices.tank?.state, 'stopped')
    assert.equal(st.devices.tank?.health, 'down')
    assert.equal(st.devices.tank?.configured, false)
    assert.match(st.devices.tank?.reason ?? '', /not in the running config/)
    assert.equal(st.health, 'ok')
    assert.equal((await fetch(url('/healthz'))).status, 200)
  } finally {
    await server.close()
  }
})

test('/healthz is 503 after the event loop was blocked for 5 s or more (a wedged process), and the page is told', { timeout: 30_000 }, async () => {
  const { server, url } = await startServer({ sources: () => ({ broker: { health: 'ok', details: { listeners: [{ name: 'l' }] } } }) })
  try {
    assert.equal((await fetch(url('/healthz'))).status, 200)
    await new Promise((r) => setTimeout(r, 100))
    const end = Date.now() + 5200
    while (Date.now() < end) {
      // Blocks the event loop on purpose, as a stuck synchronous call would.
    }
    await new Promise((r) => setTimeout(r, 50))
    const res = await fetch(url('/healthz'))
    assert.equal(res.status, 503)
    const body = (await res.json()) as { problems: Array<{ source: string; reason: string }> }
    assert.match(body.problems.find((p) => p.source === 'process')?.reason ?? '', /event loop blocked for 5\.\d s/)
  } finally {
    await server.close()
  }
})

test('a refused reload stays in /status until the next good one, and is counted', { timeout: 10_000 }, async () => {
  const { server, url } = await startServer()
  const reload = async () => (await (await fetch(url('/status'))).json() as Snapshot).reload
  try {
    server.reportReload({ ok: false, reason: 'devices[0].port: no such file' }, 'SIGHUP')
    server.reportReload({ ok: false, reason: 'still broken' }, 'SIGHUP')
    let r = await reload()
    assert.equal(r.failed_since_last_good, 2)
    assert.equal(r.failed_total, 2)
    assert.equal(r.first_failed_since_last_good?.reason, 'devices[0].port: no such file')
    // The page says "n reloads failed since the last good one": the count is not capped by what is kept.
    for (let i = 0; i < 3; i++) server.reportReload({ ok: false, reason: `still broken ${i}` }, 'SIGHUP')
    r = await reload()
    assert.equal(r.failed_since_last_good, 5)
    assert.equal(r.first_failed_since_last_good?.reason, 'devices[0].port: no such file')
    server.reportReload({ ok: true, reason: 'devices restarted: meter' }, 'SIGHUP')
    r = await reload()
    assert.equal(r.failed_since_last_good, 0)
    assert.equal(r.first_failed_since_last_good, null)
    assert.equal(r.applied_total, 1)
    assert.equal(r.failed_total, 5)
  } finally {
    await server.close()
  }
})

test('/metrics right after start has no event-loop figure from an empty histogram (no 9e9 s minimum, no NaN)', { timeout: 10_000 }, async () => {
  const { server, url } = await startServer()
  try {
    const text = await (await fetch(url('/metrics'))).text()
    const loopLines = text.split('\n').filter((l) => /eventloop/.test(l) && !l.startsWith('#'))
    assert.ok(loopLines.length > 0)
    for (const l of loopLines) {
      const v = Number(l.split(' ').at(-1))
      assert.ok(Number.isFinite(v) && v >= 0 && v < 60, `absurd value: ${l}`)
    }
  } finally {
    await server.close()
  }
})

test('/history keeps the last hour per numeric point and answers one point in full for the chart', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({ events })
  try {
    const now = Date.now()
    for (let i = 0; i < 30; i++) events.emit({ type: 'reading', reading: { device: 'tank', point: 'level', value: i, ts: now - (29 - i) * 60_000, quality: 'good' } })
    events.emit({ type: 'reading', reading: { device: 'tank', point: 'label', value: 'full', ts: now, quality: 'good' } })
    const h = (await (await fetch(url('/history'))).json()) as { step: number; points: Record<string, Record<string, Array<number | null>>> }
    const row = h.points.tank?.level ?? []
    assert.equal(row.length, 180)
    assert.deepEqual(row.filter((v) => v !== null), Array.from({ length: 30 }, (_, i) => i))
    assert.equal(h.points.tank?.label, undefined, 'strings are not charted')
    const one = (await (await fetch(url('/history?device=tank&point=level'))).json()) as { series: Array<[number, number, number, number]> }
    assert.equal(one.series.length, 30)
    assert.equal((await fetch(url('/history?device=tank&point=nope'))).status, 404)
    for (let p = 0; p < 20; p++) events.emit({ type: 'reading', reading: { device: 'tank', point: `p${p}`, value: p, ts: now, quality: 'good' } })
    const big = await fetch(url('/history'), { headers: { 'accept-encoding': 'gzip' } })
    assert.equal(big.headers.get('content-encoding'), 'gzip', 'the hour of many points is sent compressed')
    assert.equal(((await big.json()) as { points: Record<string, Record<string, unknown>> }).points.tank?.p19 !== undefined, true)
  } finally {
    await server.close()
  }
})

test('a device going into error is logged as a warning, running again as info', { timeout: 10_000 }, async () => {
  const lines: LogLine[] = []
  const clock = new FakeClock(1_000_000)
  const config = validateConfig({ devices: [{ id: 'boiler', driver: 'simulated', poll_interval: 1000, seed: 1 }] })
  const broker: LocalBroker = { publish: async () => undefined, subscribe: () => () => undefined, status: () => ({ health: 'ok', details: {} }), close: async () => undefined }
  const host = createDriverHost({ devices: driverOptions(config.devices), gatewayId: 'g', broker, logger: captureLogger(lines), clock })
  await host.start()
  try {
    const driver = host.driver('boiler') as unknown as { fail(r: string): void; recover(): void }
    driver.fail('no answer')
    clock.advance(1500)
    driver.recover()
    clock.advance(1500)
    const states = lines.filter((l) => l.msg === 'device state').map((l) => `${String(l.obj.state)}:${l.level}`)
    assert.deepEqual(states, ['running:info', 'error:warn', 'running:info'])
  } finally {
    await host.stop()
  }
})

test('log lines carry each key once, even when a module binds the key its caller already bound', { timeout: 20_000 }, () => {
  const script = [
    "import { createLogger } from './src/logging.ts'",
    "const log = createLogger('info', { gateway: 'g' })",
    "const store = log.child({ module: 'store' }).child({ module: 'store' })",
    "store.info({ x: 1 }, 'one')",
    "log.child({ module: 'bridge', uplink: 'cloud' }).child({ uplink: 'cloud' }).warn('two')",
    "log.child({ module: 'broker' }).child({ module: 'broker.auth' }).info('three')",
  ].join('\n')
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '../..'), encoding: 'utf8', timeout: 15_000 })
  assert.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  assert.equal(lines.length, 3)
  for (const line of lines) {
    const keys = [...line.matchAll(/"([^"]+)":/g)].map((m) => m[1])
    assert.deepEqual(keys, [...new Set(keys)], `duplicate key in ${line}`)
  }
  assert.equal((JSON.parse(lines[2] ?? '{}') as { module: string }).module, 'broker.auth')
  assert.equal((JSON.parse(lines[1] ?? '{}') as { level: number }).level, 40)
})

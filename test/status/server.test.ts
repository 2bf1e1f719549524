import assert from 'node:assert/strict'
import { request } from 'node:http'
import { test } from 'node:test'
import type { Status } from '../../src/core/index.ts'
import { baseConfig, eventSource, readEvents, startServer } from './helpers.ts'

test('GET /status reports version, gateway id, uptime, every source and the system', { timeout: 10_000 }, async () => {
  const sources = { broker: { health: 'ok', details: { clients: 3, subscriptions: 7 } } satisfies Status }
  const { server, url } = await startServer({ sources: () => sources })
  try {
    const res = await fetch(url('/status'))
    assert.equal(res.status, 200)
    const body = (await res.json()) as Record<string, unknown>
    assert.equal(body.version, '9.9.9')
    assert.equal(body.gateway_id, 'site-7')
    assert.ok((body.uptime_s as number) >= 4)
    assert.deepEqual((body.sources as Record<string, Status>).broker, sources.broker)
    const system = body.system as { memory: { rss: number }; disk: { free: number } | null; load: number[] }
    assert.ok(system.memory.rss > 0)
    assert.ok(system.disk && system.disk.free > 0)
    assert.equal(system.load.length, 3)
  } finally {
    await server.close()
  }
})

test('nothing served contains a secret: secret-named keys and URL credentials are masked', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({
    events,
    sources: () => ({
      'uplink:cloud': {
        health: 'degraded',
        reason: 'cannot connect to mqtts://gw:hunter2@cloud.example:8883',
        details: { url: 'mqtts://gw:hunter2@cloud.example:8883', password: 'hunter2', nested: { api_key: 'k-123', token: 't' } },
      },
    }),
  })
  try {
    events.emit({ type: 'state', source: 'uplink:cloud', state: 'down', reason: 'auth failed for mqtt://gw:hunter2@x' })
    for (const path of ['/status', '/metrics', '/healthz']) {
      const text = await (await fetch(url(path))).text()
      assert.ok(!text.includes('hunter2'), `${path} leaks a password`)
      assert.ok(!text.includes('k-123'), `${path} leaks a key`)
    }
    const body = (await (await fetch(url('/status'))).json()) as { sources: Record<string, Status> }
    assert.equal(body.sources['uplink:cloud']?.details.url, 'mqtts://gw:***@cloud.example:8883')
  } finally {
    await server.close()
  }
})

test('GET /healthz is 200 while nothing is down and 503 with the reason when a source is down', { timeout: 10_000 }, async () => {
  let store: Status = { health: 'degraded', reason: 'disk 91% of budget', details: {} }
  const { server, url } = await startServer({ sources: () => ({ store }) })
  try {
    let res = await fetch(url('/healthz'))
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { status: string }).status, 'degraded')
    store = { health: 'down', reason: 'LevelDB closed: disk full', details: {} }
    res = await fetch(url('/healthz'))
    assert.equal(res.status, 503)
    const body = (await res.json()) as { status: string; problems: Array<{ source: string; reason: string }> }
    assert.equal(body.status, 'down')
    assert.deepEqual(body.problems, [{ source: 'store', health: 'down', reason: 'LevelDB closed: disk full' }])
  } finally {
    await server.close()
  }
})

test('GET /metrics is Prometheus text with source health, numeric details, last readings and process metrics', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({
    events,
    sources: () => ({ broker: { health: 'ok', details: { clients: 4, rates: { in_per_s: 12.5 }, name: 'x' } }, store: { health: 'down', details: {} } }),
  })
  try {
    events.emit({ type: 'reading', reading: { device: 'meter1', point: 'voltage', value: 231.5, unit: 'V', ts: Date.now(), quality: 'good' } })
    const res = await fetch(url('/metrics'))
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/)
    const text = await res.text()
    assert.match(text, /fieldgate_source_health\{source="broker",gateway="site-7"\} 0/)
    assert.match(text, /fieldgate_source_health\{source="store",gateway="site-7"\} 2/)
    assert.match(text, /fieldgate_status_value\{source="broker",key="clients",gateway="site-7"\} 4/)
    assert.match(text, /fieldgate_status_value\{source="broker",key="rates.in_per_s",gateway="site-7"\} 12.5/)
    assert.match(text, /fieldgate_reading_value\{device="meter1",point="voltage",quality="good",gateway="site-7"\} 231.5/)
    assert.match(text, /fieldgate_process_resident_memory_bytes/)
    assert.match(text, /fieldgate_info\{version="9.9.9",gateway="site-7"\} 1/)
  } finally {
    await server.close()
  }
})

test('GET /events streams readings and state changes as they happen, with heartbeat comments', { timeout: 10_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({ events, config: { ...baseConfig, heartbeat: 100 } })
  try {
    const got = readEvents(url('/events'), (f) => f.some((x) => x.startsWith(': heartbeat')) && f.some((x) => x.startsWith('event: state')))
    // Emit once the stream is open (the server counts it as a client).
    for (let i = 0; i < 100; i++) {
      const st = (await (await fetch(url('/status'))).json()) as { events: { clients: number } }
      if (st.events.clients > 0) break
      await new Promise((r) => setTimeout(r, 20))
    }
    events.emit({ type: 'reading', reading: { device: 'tank', point: 'level', value: 42, ts: 1000, quality: 'good' } })
    events.emit({ type: 'state', source: 'driver:tank', device: 'tank', state: 'down', reason: 'port closed' })
    const frames = await got
    const reading = frames.find((f) => f.startsWith('event: reading'))
    assert.ok(reading)
    assert.deepEqual(JSON.parse(reading.split('\ndata: ')[1] ?? ''), { type: 'reading', reading: { device: 'tank', point: 'level', value: 42, ts: 1000, quality: 'good' } })
    const state = frames.find((f) => f.startsWith('event: state'))
    assert.match(state ?? '', /"state":"down"/)
    // The server remembers the last value and state for the page's first load.
    const st = (await (await fetch(url('/status'))).json()) as { devices: Record<string, { state: string; points: Record<string, { value: number }> }>; recent: Array<{ reason: string }> }
    assert.equal(st.devices.tank?.state, 'down')
    assert.equal(st.devices.tank?.points.level?.value, 42)
    assert.equal(st.recent.at(-1)?.reason, 'port closed')
  } finally {
    await server.close()
  }
  assert.equal(events.listeners(), 0, 'close unsubscribes from the event source')
})

test('a slow /events client that stops reading is dropped once its unsent backlog passes the bound', { timeout: 20_000 }, async () => {
  const events = eventSource()
  const { server, url } = await startServer({ events, config: { ...baseConfig, event_buffer: 64_000 } })
  try {
    const closed = new Promise<void>((resolve, reject) => {
      const req = request(url('/events'), (res) => {
        res.pause() // never read: the kernel buffers fill, then the server's
        res.on('close', () => resolve())
        res.on('error', () => resolve())
      })
      req.on('error', () => resolve())
      req.on('socket', (s) => s.setNoDelay(true))
      req.end()
      setTimeout(() => reject(new Error('slow client was not dropped')), 15_000).unref()
    })
    let dropped = 0
    const big = 'x'.repeat(16_000)
    for (let i = 0; i < 4000 && dropped === 0; i++) {
      events.emit({ type: 'reading', reading: { device: 'd', point: 'p', value: big, ts: i, quality: 'good' } })
      if (i % 50 === 49) {
        await new Promise((r) => setTimeout(r, 5))
        const st = (await (await fetch(url('/status'))).json()) as { events: { dropped_clients: number } }
        dropped = st.events.dropped_clients
      }
    }
    assert.equal(dropped, 1)
    await closed
  } finally {
    await server.close()
  }
})

test('more /events clients than allowed get 503', { timeout: 10_000 }, async () => {
  const { server, url } = await startServer({ config: { ...baseConfig, max_event_clients: 1 } })
  try {
    const first = readEvents(url('/events'), () => false, 3000).catch(() => [])
    let code = 0
    for (let i = 0; i < 50 && code !== 503; i++) {
      await new Promise((r) => setTimeout(r, 20))
      const res = await fetch(url('/events'), { signal: AbortSignal.timeout(500) }).catch(() => null)
      code = res?.status ?? 0
      await res?.body?.cancel()
    }
    assert.equal(code, 503)
    await server.close()
    await first
  } finally {
    await server.close()
  }
})

test('the server is read-only: other methods get 405 and unknown paths 404', { timeout: 10_000 }, async () => {
  const { server, url } = await startServer()
  try {
    assert.equal((await fetch(url('/status'), { method: 'POST' })).status, 405)
    assert.equal((await fetch(url('/status'), { method: 'DELETE' })).status, 405)
    assert.equal((await fetch(url('/nope'))).status, 404)
    const page = await fetch(url('/'))
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/)
    const html = await page.text()
    assert.ok(!/<(script|link)[^>]+(src|href)=/i.test(html), 'the page loads nothing from elsewhere')
  } finally {
    await server.close()
  }
})

test('listening on a port in use fails with a message naming status.host and status.port', { timeout: 10_000 }, async () => {
  const a = await startServer()
  try {
    const { createStatusServer } = await import('../../src/status/index.ts')
    const { silentLogger } = await import('../../src/core/index.ts')
    const b = createStatusServer({ config: { ...baseConfig, port: a.port }, info: { version: '1', gatewayId: 'g', startedAt: 0 }, sources: () => ({}), logger: silentLogger })
    await assert.rejects(b.listen(), /status\.host, status\.port.*EADDRINUSE/)
    await b.close()
  } finally {
    await a.server.close()
  }
})

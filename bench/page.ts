/**
 * Is the status page fast on a phone? Chromium (Debian's, through playwright-core) at a 390x844
 * viewport with the CPU slowed 4x (CDP Emulation.setCPUThrottlingRate, as Lighthouse's mobile preset),
 * against a status server in this process that has N numeric points (default 100: 10 devices x 10),
 * each with a full hour of history, and live readings of every point once a second.
 *
 * 1. Load: for each of --loads fresh pages, the time from navigation to the first paint (the shell),
 *    to the first device values on screen, and to all sparklines drawn (/history parsed and drawn).
 *    Once without network throttling, once with slow 4G as Lighthouse simulates it (150 ms RTT,
 *    1.6 Mbit/s down, 750 kbit/s up) where the page's size counts.
 * 2. Updates: with the page open and live readings flowing for --window seconds, the page's own
 *    render cycles (renderAll: every card and sparkline rebuilt; at most one per 150 ms) timed in the
 *    page, and CDP Performance metrics (TaskDuration, ScriptDuration, LayoutDuration, RecalcStyleDuration)
 *    over the window, divided by the cycles: the main thread's cost of one update, all included.
 * 3. The hour chart: tap a point, time until its chart is drawn; then drawChart's own time.
 *
 * Times are on this machine with the CPU slowed 4x; the load average is printed with them.
 *
 *   node --import tsx bench/page.ts [--points 100] [--loads 5] [--window 10] [--cpu 4]
 */
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import type { CDPSession, Page } from 'playwright-core'
import { silentLogger, type Status } from '../src/core/index.ts'
import { createStatusServer, type StatusEvent } from '../src/status/index.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir } from '../test/helpers/tmp.ts'
import { launch, PHONE } from '../test/status/browser.ts'

const { values } = parseArgs({
  options: { points: { type: 'string', default: '100' }, loads: { type: 'string', default: '5' }, window: { type: 'string', default: '10' }, cpu: { type: 'string', default: '4' } },
})
const POINTS = Math.max(1, Number(values.points))
const LOADS = Math.max(1, Number(values.loads))
const WINDOW_S = Math.max(2, Number(values.window))
const CPU_RATE = Math.max(1, Number(values.cpu))
const PER_DEVICE = 10
const DEVICES = Math.ceil(POINTS / PER_DEVICE)

/** The page's timings, recorded inside it from navigation start (performance.now()). */
const INSTRUMENT = `
window.__bench = { firstValues: null, allSparks: null, cycles: [], charts: [] };
(function () {
  var want = ${POINTS};
  var obs = new MutationObserver(function () {
    var b = window.__bench;
    if (b.firstValues === null && document.querySelector('#devices [data-device] td.v')) b.firstValues = performance.now();
    if (b.allSparks === null && document.querySelectorAll('#devices td.spark path').length >= want) { b.allSparks = performance.now(); }
  });
  document.addEventListener('DOMContentLoaded', function () {
    obs.observe(document.getElementById('devices'), { childList: true, subtree: true });
    // Wrap the page's render functions (global function declarations) to time each call.
    var ra = window.renderAll, dc = window.drawChart;
    window.renderAll = function () { var t = performance.now(); ra(); window.__bench.cycles.push(performance.now() - t); };
    window.drawChart = function () { var t = performance.now(); dc(); if (window.S && window.S.chart && window.S.chart.data) window.__bench.charts.push(performance.now() - t); };
  });
})();
`

interface LoadTimes {
  fcp: number
  firstValues: number
  allSparks: number
  transferred: number
}

function sourcesOf(): () => Record<string, Status> {
  return () => ({
    broker: { health: 'ok', details: { listeners: [{ name: 'local', protocol: 'mqtt', host: '127.0.0.1', port: 1883 }], clients: { connected: 3, connections: 3, sessions: 3, total: 3 }, subscriptions: 5, retained: 0 } },
    store: { health: 'ok', details: { dataDir: '/var/lib/fieldgate', queues: { cloud: { entries: 0, bytes: 0 } }, disk: { bytes: 1_000_000, budgetBytesPerQueue: 512e6, maxAgeMs: 604_800_000, policy: 'drop-oldest' }, lastWriteError: null, writeBytesPerMessage: 410, repairs: [] } },
    'uplink:cloud': { health: 'ok', details: { state: 'online', server: 'mqtts://cloud.example:8883', since: Date.now() - 3_600_000, backlog: 0, backlogBytes: 0, oldestAgeMs: null, published: 0, reconnects: 0, rttMs: 40 } },
  })
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s[Math.floor(s.length / 2)] as number) : NaN
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? (s[Math.min(s.length - 1, Math.floor(s.length * p))] as number) : NaN
}
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : '–').padStart(6)
const ms1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '–').padStart(6)

async function throttle(cdp: CDPSession, network: boolean): Promise<void> {
  await cdp.send('Emulation.setCPUThrottlingRate', { rate: CPU_RATE })
  await cdp.send('Network.enable')
  await cdp.send('Network.emulateNetworkConditions', network
    ? { offline: false, latency: 150, downloadThroughput: (1.6 * 1024 * 1024) / 8, uploadThroughput: (750 * 1024) / 8 }
    : { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 })
}

async function loadOnce(page: Page, url: string): Promise<LoadTimes> {
  await page.goto(url, { timeout: 60_000 })
  // Polled with evaluate: waitForFunction compiles its predicate in the page, which the page's CSP refuses.
  const deadline = Date.now() + 60_000
  while (!((await page.evaluate('!!(window.__bench && window.__bench.allSparks !== null)')) as boolean)) {
    if (Date.now() > deadline) throw new Error('bench/page: the sparklines were not all drawn within 60 s')
    await new Promise((r) => setTimeout(r, 100))
  }
  const t = (await page.evaluate(`(function () {
    var fcp = performance.getEntriesByName('first-contentful-paint')[0];
    var bytes = 0; performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).forEach(function (e) { bytes += e.transferSize || 0; });
    return { fcp: fcp ? fcp.startTime : NaN, firstValues: window.__bench.firstValues, allSparks: window.__bench.allSparks, transferred: bytes };
  })()`)) as LoadTimes
  return t
}

async function main(): Promise<void> {
  const port = await freePort()
  const cbs = new Set<(e: StatusEvent) => void>()
  const emit = (e: StatusEvent): void => {
    for (const cb of cbs) cb(e)
  }
  const server = createStatusServer({
    config: { host: '127.0.0.1', port, allow_reload: false, heartbeat: 15_000, max_event_clients: 8, event_buffer: 1_000_000 },
    info: { version: '0.1.0', gatewayId: 'bench-site', startedAt: Date.now() - 3_600_000 },
    sources: sourcesOf(),
    events: { on: (cb) => (cbs.add(cb), () => cbs.delete(cb)) },
    logger: silentLogger,
    dataDir: '.',
  })
  await server.listen()
  const point = (i: number): { device: string; point: string } => ({ device: `dev${String(Math.floor(i / PER_DEVICE)).padStart(2, '0')}`, point: `p${i % PER_DEVICE}` })
  const value = (i: number, t: number): number => Math.round((20 + i + 3 * Math.sin(t / 600_000 + i)) * 100) / 100
  for (let d = 0; d < DEVICES; d++) emit({ type: 'state', source: 'drivers', device: `dev${String(d).padStart(2, '0')}`, state: 'running' })
  // A full hour of history for every point (one reading per 20 s bucket), as on a gateway up for an hour.
  const now0 = Date.now()
  for (let t = now0 - 3_600_000; t <= now0; t += 20_000) for (let i = 0; i < POINTS; i++) emit({ type: 'reading', reading: { ...point(i), value: value(i, t), unit: '°C', ts: t, quality: 'good' } })
  // Live: every point once a second, spread over the second as a poller would.
  let next = 0
  const live = setInterval(() => {
    const n = Math.max(1, Math.round(POINTS / 10))
    for (let k = 0; k < n; k++, next = (next + 1) % POINTS) emit({ type: 'reading', reading: { ...point(next), value: value(next, Date.now()), unit: '°C', ts: Date.now(), quality: 'good' } })
  }, 100)

  const { dir, cleanup } = tempDir('fieldgate-bench-page-')
  const browser = await launch(dir)
  const url = `http://127.0.0.1:${port}/`
  const load = loadavg()
  console.log(`status page on a phone, ${new Date().toISOString()}, Chromium ${browser.version()}, ${PHONE.width}x${PHONE.height}, CPU slowed ${CPU_RATE}x, ${POINTS} points (${DEVICES} devices), each with an hour of history, every point read once a second`)
  console.log(`load average at start ${load.map((l) => l.toFixed(2)).join(' ')} on this machine`)
  try {
    const context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 1.75, isMobile: true, hasTouch: true })
    await context.addInitScript(INSTRUMENT)
    for (const network of [false, true]) {
      const runs: LoadTimes[] = []
      for (let i = 0; i < LOADS; i++) {
        const page = await context.newPage()
        const cdp = await context.newCDPSession(page)
        await throttle(cdp, network)
        runs.push(await loadOnce(page, url))
        await page.close()
      }
      console.log(`\nload (${network ? 'slow 4G: 150 ms RTT, 1.6 Mbit/s' : 'loopback, no network throttling'}), ms from navigation, median (min-max) of ${LOADS}:`)
      for (const [label, key] of [['first paint (the shell)', 'fcp'], ['first device values', 'firstValues'], [`all ${POINTS} sparklines drawn`, 'allSparks']] as const) {
        const xs = runs.map((r) => r[key])
        console.log(`  ${label.padEnd(32)} ${ms(median(xs))}  (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`)
      }
      console.log(`  ${'bytes transferred (page, /status, /history)'.padEnd(32)} ${median(runs.map((r) => r.transferred))}`)
    }

    // Updates with the page open, on the loopback.
    const page = await context.newPage()
    const cdp = await context.newCDPSession(page)
    await throttle(cdp, false)
    await loadOnce(page, url)
    await page.evaluate('window.__bench.cycles = []')
    await cdp.send('Performance.enable')
    const metric = async (): Promise<Record<string, number>> => Object.fromEntries(((await cdp.send('Performance.getMetrics')) as { metrics: Array<{ name: string; value: number }> }).metrics.map((m) => [m.name, m.value]))
    const before = await metric()
    const loadBefore = loadavg()[0] as number
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000))
    const after = await metric()
    const cycles = (await page.evaluate('window.__bench.cycles')) as number[]
    const d = (k: string): number => ((after[k] ?? 0) - (before[k] ?? 0)) * 1000
    const wall = d('Timestamp')
    console.log(`\nupdates: ${WINDOW_S} s with ${POINTS} readings/s arriving (load average ${loadBefore.toFixed(2)} -> ${(loadavg()[0] as number).toFixed(2)}):`)
    console.log(`  render cycles                    ${String(cycles.length).padStart(6)}  (${(cycles.length / (wall / 1000)).toFixed(1)} per s; the page renders at most once per 150 ms)`)
    console.log(`  renderAll, script only, ms       ${ms1(median(cycles))} median, ${ms1(pct(cycles, 0.95))} p95, ${ms1(Math.max(...cycles))} max`)
    const per = (k: string): string => ms1(d(k) / Math.max(1, cycles.length))
    console.log(`  per cycle, all main-thread work  ${per('TaskDuration')} ms task (${per('ScriptDuration')} script, ${per('LayoutDuration')} layout, ${per('RecalcStyleDuration')} style), from CDP Performance.getMetrics`)
    console.log(`  main thread busy                 ${ms1((100 * d('TaskDuration')) / wall)} % of the window`)

    // The hour chart: tap a point.
    const charts: number[] = []
    const opens: number[] = []
    for (let i = 0; i < LOADS; i++) {
      const t0 = Date.now()
      await page.locator(`[data-device="dev00"] tr[data-point="p${i % PER_DEVICE}"]`).click()
      await page.locator('#overlay.open #chartbox svg path.line').waitFor({ timeout: 30_000 })
      opens.push(Date.now() - t0)
      charts.push(...((await page.evaluate('window.__bench.charts.splice(0)')) as number[]))
      await page.locator('#closechart').click()
    }
    console.log(`\nhour chart (tap a point, 180 buckets), ${LOADS} taps:`)
    console.log(`  tap to chart drawn, ms           ${ms(median(opens))} median (${Math.min(...opens)}-${Math.max(...opens)}), includes the /history?device= request and playwright's own round trips`)
    console.log(`  drawChart, script only, ms       ${ms1(median(charts))} median of ${charts.length} draws`)
    await page.close()
    await context.close()
  } finally {
    clearInterval(live)
    await browser.close()
    await server.close()
    cleanup()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { chromium } from 'playwright-core'
import { validateConfig } from '../../src/config/index.ts'
import { silentLogger, type LocalBroker, type Message } from '../../src/core/index.ts'
import { createDriverHost } from '../../src/drivers/index.ts'
import { createStatusServer, type StatusEvent } from '../../src/status/index.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** In-process broker stand-in: the drivers publish into it; the page test needs nothing routed. */
function sinkBroker(): LocalBroker & { published: Message[] } {
  const published: Message[] = []
  return {
    published,
    async publish(m) {
      if (published.length < 10_000) published.push(m)
    },
    subscribe: () => () => undefined,
    status: () => ({ health: 'ok', details: { clients: 0, published: published.length } }),
    async close() {},
  }
}

test('in-process: the page shows live values from real simulated drivers and turns a stopped device red within 5 seconds', { timeout: 45_000 }, async () => {
  const config = validateConfig({
    status: { port: 0 },
    devices: [
      { id: 'boiler', driver: 'simulated', poll_interval: 200, seed: 1 },
      { id: 'tank', driver: 'simulated', poll_interval: 200, seed: 2 },
    ],
  })
  const broker = sinkBroker()
  const host = createDriverHost({ devices: config.devices, gatewayId: 'site-7', broker, logger: silentLogger })
  const listeners = new Set<(e: StatusEvent) => void>()
  host.onEvent((e) => {
    const se: StatusEvent = e.type === 'reading' ? e : { type: 'state', source: 'drivers', device: e.device, state: e.state, ...(e.reason ? { reason: e.reason } : {}) }
    for (const l of listeners) l(se)
  })
  const server = createStatusServer({
    config: config.status,
    info: { version: '0.1.0', gatewayId: 'site-7', startedAt: Date.now() },
    sources: () => ({
      broker: broker.status(),
      drivers: host.status(),
      store: { health: 'ok', details: { depth: 0, bytes: 0, max_bytes: config.storage.max_bytes } },
      'uplink:cloud': { health: 'degraded', reason: 'connecting to mqtts://cloud.example:8883', details: { state: 'backoff', backlog: 12, oldestEnqueuedAt: Date.now() - 95_000 } },
    }),
    events: { on: (cb) => (listeners.add(cb), () => listeners.delete(cb)) },
    logger: silentLogger,
  })
  const { port } = await server.listen()
  await host.start()
  const { dir, cleanup } = tempDir('fieldgate-chromium-')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 20_000, env: { ...process.env, HOME: dir } })
  try {
    const page = await browser.newPage({ viewport: { width: 420, height: 1100 } })
    await page.goto(`http://127.0.0.1:${port}/`, { timeout: 10_000 })
    await page.locator('[data-device="boiler"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    await page.locator('[data-device="tank"][data-health="ok"]').waitFor({ timeout: 5000 })
    assert.match(await page.locator('#live').textContent({ timeout: 5000 }) ?? '', /live/)
    assert.match(await page.locator('[data-source="uplink:cloud"]').innerText({ timeout: 5000 }), /backlog\s+12/)

    const driver = host.driver('tank')
    assert.ok(driver)
    await driver.stop()
    const started = Date.now()
    await page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 5000 })
    const waited = Date.now() - started
    assert.ok(waited <= 5000)
    assert.equal(await page.locator('[data-device="boiler"]').getAttribute('data-health'), 'ok', 'the other device stays green')
    assert.match(await page.locator('#recent').innerText(), /tank stopped/)

    mkdirSync(join('test-results'), { recursive: true })
    await page.screenshot({ path: join('test-results', 'status-page-inprocess.png'), fullPage: true })
  } finally {
    await browser.close()
    await host.stop()
    await server.close()
    cleanup()
  }
})

const ROOT = join(import.meta.dirname, '../..')

function gatewayConfig(dir: string, mqttPort: number, statusPort: number, tankEnabled: boolean): string {
  return [
    '[gateway]', 'id = "site-7"', '[log]', 'level = "warn"',
    '[storage]', `data_dir = "${join(dir, 'data')}"`,
    '[[broker.listeners]]', `port = ${mqttPort}`,
    '[status]', `port = ${statusPort}`,
    '[[devices]]', 'id = "boiler"', 'driver = "simulated"', 'poll_interval = "250ms"', 'seed = 1',
    '[[devices]]', 'id = "tank"', 'driver = "simulated"', 'poll_interval = "250ms"', 'seed = 2', `enabled = ${tankEnabled}`,
  ].join('\n') + '\n'
}

test('the running gateway: a device stopped by a config reload turns red on the page within 5 seconds', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-page-')
  const mqttPort = await freePort()
  const statusPort = await freePort()
  const cfg = join(dir, 'gw.toml')
  writeFileSync(cfg, gatewayConfig(dir, mqttPort, statusPort, true))
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
  const gw = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'run', '--config', cfg], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  gw.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const exited = new Promise<number | null>((r) => gw.once('exit', (code) => r(code)))
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true, timeout: 20_000, env: { ...process.env, HOME: dir } })
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).ok, 20_000, 50, `gateway /healthz (${stderr})`)
    const page = await browser.newPage({ viewport: { width: 420, height: 1100 } })
    await page.goto(`http://127.0.0.1:${statusPort}/`, { timeout: 10_000 })
    await page.locator('[data-device="tank"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    await page.locator('[data-device="boiler"][data-health="ok"]').waitFor({ timeout: 5000 })

    writeFileSync(cfg, gatewayConfig(dir, mqttPort, statusPort, false))
    gw.kill('SIGHUP')
    const started = Date.now()
    await page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 5000 })
    assert.ok(Date.now() - started <= 5000)
    await page.locator('[data-device="boiler"][data-health="ok"]').waitFor({ timeout: 5000 })
    mkdirSync('test-results', { recursive: true })
    await page.screenshot({ path: join('test-results', 'status-page.png'), fullPage: true })
  } finally {
    await browser.close()
    gw.kill('SIGTERM')
    const code = await exited
    cleanup()
    assert.equal(code, 0, `gateway exit code; stderr: ${stderr}`)
  }
})

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import type { Page } from 'playwright-core'
import { validateConfig } from '../../src/config/index.ts'
import { silentLogger, type LocalBroker, type Message, type Status } from '../../src/core/index.ts'
import { createDriverHost } from '../../src/drivers/index.ts'
import { driverOptions } from '../../src/gateway/options/devices.ts'
import { createStatusServer, type StatusEvent } from '../../src/status/index.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { AMBER, colour, DESKTOP, fitsWidth, launch, midWordBreaks, openPage, PHONE, RED, shot } from './browser.ts'

/** In-process broker stand-in: the drivers publish into it; the page test needs nothing routed. */
function sinkBroker(): LocalBroker & { published: Message[] } {
  const published: Message[] = []
  return {
    published,
    async publish(m) {
      if (published.length < 10_000) published.push(m)
    },
    subscribe: () => () => undefined,
    status: () => ({ health: 'ok', details: { listeners: [{ name: 'local', protocol: 'mqtt', host: '127.0.0.1', port: 1883 }], clients: { connected: 2, connections: 2, sessions: 2, total: 5 }, subscriptions: 3, retained: 4, messages: { in: published.length, out: 0 }, rates: { messagesInPerSec: 10, messagesOutPerSec: 0 } } }),
    async close() {},
  }
}

function withLine(s: Status): Status {
  const line = { connected: true, pending: 0, opens: 2, lastLinkError: 'connect ECONNREFUSED 127.0.0.1:502', endpoint: '127.0.0.1:502', onBackup: false, requests: 120, answers: 117, exceptions: 0, timeouts: 3, framingErrors: 0, discardedFrames: 3, lateAnswers: 3, discardedBytes: 0 }
  return { ...s, details: { ...s.details, lines: { 'tcp:127.0.0.1:502': line } } }
}

async function checkStates(page: Page, name: string): Promise<void> {
  const line = await page.locator('[data-line="tcp:127.0.0.1:502"]').innerText()
  assert.match(line, /Line 127\.0\.0\.1:502/)
  assert.match(line, /Late answers \(raise timeout\)\s+3/)
  assert.equal(await page.locator('[data-line="tcp:127.0.0.1:502"]').getAttribute('data-health'), 'degraded')
  // Live: GPS at six decimals (a ~0.1 m step), not two.
  assert.match(await page.locator('[data-device="boiler"] tr[data-point="lat"] td.v').innerText(), /\b52\.\d{6}°/)
  // Stale: amber, labelled, with its age; the card is not green.
  const stale = page.locator('[data-device="meter"] tr[data-point="flow"]')
  assert.match(await stale.locator('td.v').innerText(), /m³\/h\s+stale/i)
  assert.equal(await colour(page, '[data-device="meter"] tr[data-point="flow"] td.v'), AMBER)
  assert.match(await stale.locator('td.age').innerText(), /^\d+ s$/)
  assert.equal(await page.locator('[data-device="meter"]').getAttribute('data-health'), 'degraded')
  assert.match(await page.locator('[data-device="meter"] .reason').innerText(), /no fresh value for flow/)
  // A device that stopped: red, says so.
  assert.equal(await page.locator('[data-device="tank"]').getAttribute('data-health'), 'down')
  assert.match(await page.locator('[data-device="tank"] .pill').innerText(), /stopped/i)
  assert.equal(await colour(page, '[data-device="tank"] td.v'), 'rgb(91, 99, 114)', 'values of a stopped device are greyed: last known')
  assert.equal(await colour(page, '[data-device="tank"] .pill'), 'rgb(255, 255, 255)')
  // A device in error: its values say "read failed" in red, with the last good value beside it.
  assert.equal(await page.locator('[data-device="boiler"]').getAttribute('data-health'), 'degraded')
  assert.match(await page.locator('[data-device="boiler"] tr[data-point="temperature"] td.v').innerText(), /read failed/)
  assert.equal(await colour(page, '[data-device="boiler"] tr[data-point="temperature"] td.v'), RED)
  // The header does not say OK while devices are in trouble, and names them.
  assert.equal((await page.locator('#overall').innerText()).toLowerCase(), 'degraded')
  // The banner follows the next /status (a state event asks for one at once).
  const banner = await waitFor(async () => {
    const t = await page.locator('#problembanner').innerText()
    return /device tank/.test(t) && /device boiler/.test(t) ? t : null
  }, 5000, 100, 'the banner names the stopped and the failing device')
  assert.match(banner, /device tank: stopped/)
  assert.match(banner, /device meter: no fresh value for flow/)
  // Written for a technician: labels, not internal keys; no "1 items".
  const text = await page.locator('main').innerText()
  for (const raw of ['inProcessSubscriptions', 'clients.connections', 'wcharPerMessage', 'budgetBytesPerQueue', 'lastLinkError', 'discardedBytes', ' items', '***']) assert.ok(!text.includes(raw), `${name}: shows ${raw}`)
  assert.match(text, /Clients connected\s+2/)
  assert.deepEqual(await midWordBreaks(page), [], `${name}: no word or number cut in two by a line wrap`)
  await shot(page, `status-devices-${name}`)
}

test('in-process: a stale point is amber with its age, a stopped device red, a device in error says "read failed", on desktop and phone', { timeout: 60_000 }, async () => {
  const config = validateConfig({
    status: { port: 0 },
    devices: [
      { id: 'boiler', driver: 'simulated', poll_interval: 200, seed: 1 },
      { id: 'tank', driver: 'simulated', poll_interval: 200, seed: 2 },
      // flow is read once a minute but must be fresh within 1 s: it goes stale after its first reading.
      { id: 'meter', driver: 'simulated', poll_interval: 200, stale_after: 1000, seed: 3, points: [{ name: 'flow', kind: 'random_walk', start: 3, step: 0.1, unit: 'm³/h', poll_interval: 60_000 }, { name: 'temp', kind: 'random_walk', start: 20, step: 0.1, unit: '°C' }] },
    ],
  })
  const broker = sinkBroker()
  const host = createDriverHost({ devices: driverOptions(config.devices), gatewayId: 'site-7', broker, logger: silentLogger })
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
      // A Modbus line as the host reports it (counters since start), beside the simulated devices.
      drivers: withLine(host.status()),
      store: { health: 'ok', details: { dataDir: '/var/lib/fieldgate', queues: {}, disk: { bytes: 1000, budgetBytesPerQueue: 512e6, maxAgeMs: 604_800_000, policy: 'drop-oldest' }, lastWriteError: null, writeBytesPerMessage: 410, wcharPerMessage: 1000, repairs: [] } },
      security: { health: 'ok', details: { passwordUsers: 3, deviceTokens: null, aclRules: null, anonymousListeners: [], failedLogins: 0, lockedAddresses: 0 } },
    }),
    events: { on: (cb) => (listeners.add(cb), () => listeners.delete(cb)) },
    logger: silentLogger,
  })
  const { port } = await server.listen()
  await host.start()
  const { dir, cleanup } = tempDir('fieldgate-chromium-')
  const browser = await launch(dir)
  try {
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${port}/`, DESKTOP)
    await page.locator('[data-device="tank"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    await page.locator('[data-device="meter"] tr.q-stale[data-point="flow"]').waitFor({ timeout: 5000 })
    // The header follows within one /status refresh: not OK while a point is stale.
    await page.locator('#overall.degraded').waitFor({ timeout: 5000 })
    assert.match(await page.locator('[data-source="security"]').innerText(), /Password users\s+3/, 'a count of users is not a secret')

    const tank = host.driver('tank')
    const boiler = host.driver('boiler') as unknown as { fail(r: string): void }
    assert.ok(tank)
    await tank.stop()
    boiler.fail('no answer from the sensor')
    await page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 5000 })
    await page.locator('[data-device="boiler"][data-health="degraded"] tr.q-error').first().waitFor({ timeout: 5000 })
    await waitFor(async () => (await page.locator('#recent').innerText()).match(/tank stopped/g)?.length === 1, 5000, 100, 'one "tank stopped" line in recent problems (live and snapshot not doubled)')
    await checkStates(page, 'desktop')

    const phone = await openPage(browser, `http://127.0.0.1:${port}/`, PHONE)
    await phone.page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 10_000 })
    await phone.page.locator('[data-device="meter"] tr.q-stale[data-point="flow"]').waitFor({ timeout: 5000 })
    await phone.page.locator('[data-device="boiler"] tr.q-error').first().waitFor({ timeout: 5000 })
    await checkStates(phone.page, 'phone')
    assert.ok(await fitsWidth(phone.page), 'nothing wider than a 390 px phone')
    assert.deepEqual([...errors, ...phone.errors], [])
  } finally {
    await browser.close()
    await host.stop()
    await server.close()
    cleanup()
  }
})

const ROOT = join(import.meta.dirname, '../..')

function gatewayConfig(dir: string, mqttPort: number, statusPort: number, o: { tankEnabled: boolean; id?: string }): string {
  return [
    '[gateway]', `id = "${o.id ?? 'site-7'}"`, '[log]', 'level = "warn"',
    '[storage]', `data_dir = "${join(dir, 'data')}"`,
    '[[broker.listeners]]', `port = ${mqttPort}`,
    '[status]', `port = ${statusPort}`,
    '[[devices]]', 'id = "boiler"', 'driver = "simulated"', 'poll_interval = "250ms"', 'seed = 1',
    '[[devices]]', 'id = "tank"', 'driver = "simulated"', 'poll_interval = "250ms"', 'seed = 2', `enabled = ${o.tankEnabled}`,
  ].join('\n') + '\n'
}

test('the running gateway: a refused reload shows in the header until the next good one, which stops a device', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-page-')
  const mqttPort = await freePort()
  const statusPort = await freePort()
  const cfg = join(dir, 'gw.toml')
  writeFileSync(cfg, gatewayConfig(dir, mqttPort, statusPort, { tankEnabled: true }))
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
  const gw = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), 'run', '--config', cfg], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  gw.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const exited = new Promise<number | null>((r) => gw.once('exit', (code) => r(code)))
  const browser = await launch(dir)
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).ok, 20_000, 50, `gateway /healthz (${stderr})`)
    const { page, errors } = await openPage(browser, `http://127.0.0.1:${statusPort}/`, DESKTOP)
    const phone = await openPage(browser, `http://127.0.0.1:${statusPort}/`, PHONE)
    await page.locator('[data-device="tank"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    assert.equal(await page.locator('#reloadbanner').count(), 0)

    // A change that needs a restart is refused; the gateway keeps running the old config.
    writeFileSync(cfg, gatewayConfig(dir, mqttPort, statusPort, { tankEnabled: true, id: 'site-8' }))
    gw.kill('SIGHUP')
    await page.locator('#reloadbanner').waitFor({ timeout: 5000 })
    assert.match(await page.locator('#reloadbanner').innerText(), /^Config reload refused at \d\d:\d\d:\d\d \(SIGHUP\): these changes need a restart: gateway\.id changed\. The gateway keeps running its previous config\.$/)
    assert.equal(await colour(page, '#reloadbanner'), RED)
    await shot(page, 'status-reload-refused-desktop')
    await phone.page.locator('#reloadbanner').waitFor({ timeout: 5000 })
    assert.match(await phone.page.locator('#reloadbanner').innerText(), /^Config reload refused at \d\d:\d\d:\d\d \(SIGHUP\): these changes need a restart: gateway\.id changed\./)
    assert.equal(await colour(phone.page, '#reloadbanner'), RED)
    assert.ok(await fitsWidth(phone.page), 'the reason fits a phone')
    assert.deepEqual(await midWordBreaks(phone.page), [], 'no word or number cut in two by a line wrap')
    await shot(phone.page, 'status-reload-refused-phone')
    // Still there after several refreshes of /status.
    await new Promise((r) => setTimeout(r, 4000))
    assert.equal(await page.locator('#reloadbanner').count(), 1)
    assert.match(await page.locator('#gateway').innerText(), /Config reloads \(applied \/ refused\)\s+0 \/ 1/)

    writeFileSync(cfg, gatewayConfig(dir, mqttPort, statusPort, { tankEnabled: false }))
    gw.kill('SIGHUP')
    const started = Date.now()
    await page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 5000 })
    assert.ok(Date.now() - started <= 5000)
    await page.locator('#reloadbanner').waitFor({ state: 'detached', timeout: 5000 })
    await page.locator('[data-device="boiler"][data-health="ok"]').waitFor({ timeout: 5000 })
    assert.match(await page.locator('#gateway').innerText(), /Config reloads \(applied \/ refused\)\s+1 \/ 1/)
    await shot(page, 'status-reload-applied-desktop')
    await phone.page.locator('[data-device="tank"][data-health="down"]').waitFor({ timeout: 5000 })
    await phone.page.locator('#reloadbanner').waitFor({ state: 'detached', timeout: 5000 })
    assert.match(await phone.page.locator('#gateway').innerText(), /Config reloads \(applied \/ refused\)\s+1 \/ 1/)
    assert.ok(await fitsWidth(phone.page))
    assert.deepEqual(await midWordBreaks(phone.page), [])
    await shot(phone.page, 'status-reload-applied-phone')
    assert.deepEqual([...errors, ...phone.errors], [])
  } finally {
    await browser.close()
    gw.kill('SIGTERM')
    const code = await exited
    cleanup()
    assert.equal(code, 0, `gateway exit code; stderr: ${stderr}`)
  }
})

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { attributes, DESKTOP, fitsWidth, launch, midWordBreaks, openPage, PHONE, RESULTS, shot, style } from './browser.ts'

const ROOT = join(import.meta.dirname, '../..')
/** Resolved here: the demo runs in a temporary directory (its ./data) where tsx is not found. */
const TSX = import.meta.resolve('tsx')

/**
 * `fieldgate run` with no config (the quickstart) on free ports: the demo's own uplink and stand-in
 * cloud, seen through the page as a newcomer would, then the gateway killed with the page open.
 */
test('the built-in demo: live, its stand-in cloud cut (backlog grows) and restored (drains in order), then the gateway killed while the page is open', { timeout: 150_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-demo-')
  const [mqttPort, statusPort, cloudPort] = [await freePort(), await freePort(), await freePort()]
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_'))),
    FIELDGATE_BROKER__LISTENERS__0__PORT: String(mqttPort),
    FIELDGATE_STATUS__PORT: String(statusPort),
    FIELDGATE_UPLINKS__0__URL: `"mqtt://127.0.0.1:${cloudPort}"`,
    FIELDGATE_STORAGE__DATA_DIR: join(dir, 'data'),
    FIELDGATE_LOG__LEVEL: 'warn',
  }
  const gw = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'run'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (d: Buffer): void => void (out = (out + d.toString()).slice(-8000))
  gw.stdout.on('data', keep)
  gw.stderr.on('data', keep)
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => gw.once('exit', (code, signal) => r({ code, signal })))
  const browser = await launch(dir)
  let cloud: mqtt.MqttClient | null = null
  const base = `http://127.0.0.1:${statusPort}`
  try {
    await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 30_000, 100, `demo /healthz (${out})`)
    const { page, errors } = await openPage(browser, `${base}/`, DESKTOP)
    const phone = await openPage(browser, `${base}/`, PHONE)

    // Live: the uplink to the stand-in cloud is online from the first minute.
    const uplink = page.locator('[data-source="uplink:demo-cloud"]')
    await page.locator('[data-source="uplink:demo-cloud"][data-health="ok"]').waitFor({ timeout: 15_000 })
    await page.locator('[data-device="room1"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    assert.equal(await page.locator('#overall').innerText(), 'OK')
    assert.equal(await page.locator('#overall.ok').count(), 1)
    assert.match(await page.locator('#contact').innerText(), /^live · updated \d\d:\d\d:\d\d$/)
    assert.deepEqual(await attributes(page, '[data-device="room1"] tr.pt', 'data-point'), ['humidity', 'pulses', 'setpoint', 'temperature'], 'room1 publishes no GPS')
    assert.match(await page.locator('[data-device="tracker"] tr[data-point="lat"] td.v').innerText(), /^52\.\d{6}°$/)
    assert.match(await uplink.innerText(), /Cloud server\s+mqtt:\/\/127\.0\.0\.1:\d+/)
    // A sparkline per point, drawn from /history and extended by live readings.
    await page.locator('[data-device="room1"] tr[data-point="temperature"] td.spark path').waitFor({ timeout: 25_000 })
    await shot(page, 'status-demo-live-desktop')
    await phone.page.locator('[data-device="room1"][data-health="ok"] td.v').first().waitFor({ timeout: 10_000 })
    assert.ok(await fitsWidth(phone.page), 'no sideways scrolling on a phone')
    assert.deepEqual(await midWordBreaks(phone.page), [], 'no word or number cut in two by a line wrap')
    await shot(phone.page, 'status-demo-live-phone')

    // The full JSON is one click away.
    await page.locator('#raw summary').click()
    await waitFor(async () => /"gateway_id": "fieldgate-demo"/.test(await page.locator('#rawjson').innerText()), 5000, 50, 'the full JSON')
    await page.locator('#raw summary').click()
    // Tap a value: the last hour as a larger chart.
    await page.locator('[data-device="room1"] tr[data-point="temperature"]').click()
    await page.locator('#overlay.open #chartbox').waitFor({ timeout: 5000 })
    // Attached, not "visible": a flat line (the same value in every bucket) has no height, and Playwright calls that hidden.
    await page.locator('#overlay.open #chartbox svg path.line').waitFor({ state: 'attached', timeout: 5000 })
    assert.match(await page.locator('#chartbox').innerText(), /room1 · temperature \(°C\)[\s\S]*last hour: lowest \d+\.\d+ °C, highest/)
    await shot(page, 'status-demo-chart-desktop')
    await page.locator('#closechart').click()
    await phone.page.locator('[data-device="room1"] tr[data-point="temperature"]').tap()
    await phone.page.locator('#overlay.open #chartbox').waitFor({ timeout: 5000 })
    await phone.page.locator('#overlay.open #chartbox svg path.line').waitFor({ state: 'attached', timeout: 5000 })
    assert.match(await phone.page.locator('#chartbox').innerText(), /room1 · temperature \(°C\)[\s\S]*last hour: lowest \d+\.\d+ °C, highest/)
    assert.ok(await fitsWidth(phone.page), 'the chart fits a phone')
    assert.deepEqual(await midWordBreaks(phone.page), [])
    await phone.page.screenshot({ path: join(RESULTS, 'status-demo-chart-phone.png') })
    await phone.page.locator('#closechart').tap()

    // Cut the demo cloud: the uplink leaves green, the backlog grows, /healthz stays 200 (degraded).
    await page.locator('#democloud').click()
    await page.locator('[data-source="uplink:demo-cloud"]:not([data-health="ok"])').waitFor({ timeout: 10_000 })
    const backlogOf = async (): Promise<number> => Number(/Waiting to send \(backlog\)\s+([\d,]+) message/.exec(await uplink.innerText())?.[1]?.replace(/,/g, '') ?? NaN)
    await waitFor(async () => (await backlogOf()) >= 40, 30_000, 250, 'backlog of 40 readings')
    const healthz = await fetch(`${base}/healthz`)
    assert.equal(healthz.status, 200)
    assert.equal(((await healthz.json()) as { status: string }).status, 'degraded')
    assert.equal((await page.locator('#overall').innerText()).toLowerCase(), 'degraded')
    assert.match(await page.locator('#problembanner').innerText(), /uplink demo-cloud/)
    assert.match(await uplink.innerText(), /Offline since\s+(\d\d:\d\d:\d\d) \(\d+ s\)/)
    const offlineSince = /Offline since\s+(\d\d:\d\d:\d\d)/.exec(await uplink.innerText())?.[1]
    await new Promise((r) => setTimeout(r, 3500))
    assert.equal(/Offline since\s+(\d\d:\d\d:\d\d)/.exec(await uplink.innerText())?.[1], offlineSince, 'reconnect attempts do not move "offline since"')
    await page.locator('[data-source="uplink:demo-cloud"] [data-chart="backlog"] path.line').waitFor({ timeout: 15_000 })
    await shot(page, 'status-demo-cloud-down-desktop')
    await phone.page.locator('[data-source="uplink:demo-cloud"]:not([data-health="ok"])').waitFor({ timeout: 10_000 })
    assert.ok(await fitsWidth(phone.page), 'a long error and server address still fit a phone')
    assert.deepEqual(await midWordBreaks(phone.page), [])
    await shot(phone.page, 'status-demo-cloud-down-phone')
    // One phone screen (not the whole page): the picture docs/technician.md shows.
    await phone.page.screenshot({ path: join(RESULTS, 'status-demo-cloud-down-phone-screen.png') })

    // A cloud application listening on the stand-in (it keeps retrying until the cloud is back).
    const pulses: number[] = []
    cloud = mqtt.connect({ host: '127.0.0.1', port: cloudPort, reconnectPeriod: 200, connectTimeout: 2000, clientId: 'demo-test-app' })
    cloud.on('connect', () => void cloud?.subscribe('fieldgate/+/room1/pulses', { qos: 1 }))
    cloud.on('message', (_t, payload) => pulses.push((JSON.parse(payload.toString()) as { v: number }).v))
    const backlogAtRestore = await backlogOf()
    await page.locator('#democloud').click()
    await page.locator('[data-source="uplink:demo-cloud"][data-health="ok"]').waitFor({ timeout: 15_000 })
    await waitFor(async () => (await backlogOf()) === 0, 40_000, 250, 'the backlog drained')
    // Replayed in order: the counter arrives with no gap and never goes back (a resend may repeat one).
    await waitFor(() => pulses.length >= 20, 10_000, 50, 'replayed pulses at the cloud')
    for (let i = 1; i < pulses.length; i++) {
      const step = (pulses[i] as number) - (pulses[i - 1] as number)
      assert.ok(step === 1 || step === 0 || (step < 0 && i > 0 && pulses.indexOf(pulses[i] as number) < i), `pulses out of order at ${i}: ${pulses.slice(Math.max(0, i - 3), i + 3).join(',')}`)
    }
    assert.ok(new Set(pulses).size >= backlogAtRestore / 5, `the cloud got the backlog's pulses (${new Set(pulses).size} distinct, backlog ${backlogAtRestore})`)
    await shot(page, 'status-demo-cloud-restored-desktop')
    await phone.page.locator('[data-source="uplink:demo-cloud"][data-health="ok"]').waitFor({ timeout: 10_000 })
    await waitFor(async () => /Waiting to send \(backlog\)\s+0 messages/.test(await phone.page.locator('[data-source="uplink:demo-cloud"]').innerText()), 10_000, 250, 'the phone shows the backlog drained')
    assert.ok(await fitsWidth(phone.page))
    assert.deepEqual(await midWordBreaks(phone.page), [])
    await shot(phone.page, 'status-demo-cloud-restored-phone')

    // kill -9 with the page open: everything turns "last known", with a fixed "no contact since".
    gw.kill('SIGKILL')
    await exited
    await page.locator('body.lost').waitFor({ timeout: 12_000 })
    await phone.page.locator('body.lost').waitFor({ timeout: 12_000 })
    for (const p of [page, phone.page]) {
      assert.equal(await p.locator('.pill.ok').count(), 0, 'no green badge without contact')
      assert.equal((await p.locator('#overall').innerText()).toLowerCase(), 'no contact')
      const [, t1] = /^no contact since (\d\d:\d\d:\d\d) \((\d+) s\)$/.exec(await p.locator('#contact').innerText()) ?? []
      assert.ok(t1, 'the header says since when')
      assert.match(await p.locator('#lostbanner').innerText(), /^No contact with the gateway since \d\d:\d\d:\d\d \(\d+ s\)\. Everything below is its last known state, not live\.$/)
      assert.equal(await style(p, 'main .card', 'filter'), 'grayscale(1)', 'cards are greyed')
    }
    assert.match(await uplink.innerText(), /Sending now\s+unknown \(no contact\)/)
    const first = /since (\d\d:\d\d:\d\d) \((\d+) s\)/.exec(await page.locator('#contact').innerText())
    // The page's own 1 s tick counts the seconds; under load it may run late, so wait for it (bounded).
    const later = await waitFor(async () => {
      const m = /since (\d\d:\d\d:\d\d) \((\d+) s\)/.exec(await page.locator('#contact').innerText())
      return m && Number(m[2]) >= Number(first?.[2]) + 2 ? m : null
    }, 15_000, 200, 'the seconds without contact count up')
    assert.equal(later[1], first?.[1], 'the time of the last contact does not move')
    await shot(page, 'status-demo-gateway-killed-desktop')
    await shot(phone.page, 'status-demo-gateway-killed-phone')
    assert.deepEqual([...errors, ...phone.errors], [])
  } finally {
    cloud?.end(true)
    await browser.close()
    if (gw.exitCode === null && gw.signalCode === null) gw.kill('SIGKILL')
    await exited
    cleanup()
  }
})

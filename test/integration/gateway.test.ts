import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import mqtt from 'mqtt'
import { gatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

interface Seen {
  topic: string
  payload: string
  retain: boolean
}

let dir: string
let cleanup: () => void
let mosq: MosquittoHandle
let gw: GatewayProcess
let cloud: mqtt.MqttClient
let port: number
let statusPort: number
const seen: Seen[] = []

function config(pollInterval: string): string {
  return gatewayToml({
    id: 'e2e',
    logLevel: 'info',
    sysInterval: '1s',
    port,
    dataDir: `${dir}/data`,
    statusPort,
    extra: `
[[devices]]
id = "room1"
driver = "simulated"
poll_interval = "${pollInterval}"
[[uplinks]]
name = "cloud"
url = "mqtt://127.0.0.1:${mosq.port}"
backoff = { min = "50ms", max = "500ms" }
probe = { interval = "1s", timeout = "1s" }
[[uplinks.forward]]
filter = "fieldgate/#"
remote = "site/{topic}"
[[uplinks.downlink]]
remote_filter = "cloud/cmd/#"
strip_prefix = "cloud/cmd/"
local = "fieldgate/e2e/{topic}"
`,
  })
}

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${statusPort}${path}`)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-e2e-'))
  port = await freePort()
  statusPort = await freePort()
  mosq = await startMosquitto()
  cloud = await mqtt.connectAsync({ host: '127.0.0.1', port: mosq.port, clientId: 'e2e-cloud-app', protocolVersion: 5 })
  cloud.on('message', (topic, payload, packet) => seen.push({ topic, payload: payload.toString(), retain: packet.retain }))
  await cloud.subscribeAsync(['site/#', 'fieldgate/e2e/status'], { qos: 1 })
  gw = await startGateway(dir, config('200ms'), { waitPort: statusPort })
})

after(async () => {
  await cloud?.endAsync(true)
  await gw?.kill('SIGKILL')
  await mosq?.stop()
  cleanup?.()
})

test('readings of a simulated device reach local subscribers and the cloud, with the time they were measured', { timeout: 20_000 }, async () => {
  const local = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: 'e2e-local', protocolVersion: 4 })
  try {
    const got: Array<{ v: number; ts: number; q: string }> = []
    local.on('message', (_t, p) => got.push(JSON.parse(p.toString()) as { v: number; ts: number; q: string }))
    await local.subscribeAsync('fieldgate/e2e/room1/temperature', { qos: 0 })
    await waitFor(() => got.length >= 2, 10_000, 20, 'local readings')
    assert.equal(got[0]?.q, 'good')
    assert.ok(Math.abs((got[0]?.ts ?? 0) - Date.now()) < 60_000, 'timestamp is a measurement time in ms')
    await waitFor(() => seen.some((s) => s.topic === 'site/fieldgate/e2e/room1/temperature'), 10_000, 20, 'readings upstream')
  } finally {
    await local.endAsync(true)
  }
})

test('the birth message is retained upstream and the status page reports the uplink online', { timeout: 20_000 }, async () => {
  await waitFor(() => seen.some((s) => s.topic === 'fieldgate/e2e/status' && s.payload === 'online'), 10_000, 20, 'birth message')
  const health = await getJson('/healthz')
  assert.equal(health.status, 200)
  const status = await waitFor(async () => {
    const s = await getJson('/status')
    const up = (s.body.sources as Record<string, { details: { state?: string } }>)['uplink:cloud']
    return up?.details.state === 'online' ? s : null
  }, 10_000, 100, 'uplink online in /status')
  const sources = status.body.sources as Record<string, { health: string }>
  assert.deepEqual(Object.keys(sources).sort(), ['broker', 'drivers', 'security', 'store', 'uplink:cloud'])
})

test('a command from the cloud writes the device and its result goes back up, without looping the command', { timeout: 20_000 }, async () => {
  await cloud.publishAsync('cloud/cmd/room1/setpoint/set', '25', { qos: 1 })
  const result = await waitFor(() => seen.find((s) => s.topic === 'site/fieldgate/e2e/room1/setpoint/set/result'), 10_000, 20, 'command result upstream')
  const body = JSON.parse(result.payload) as { ok: boolean; value: number }
  assert.equal(body.ok, true)
  assert.equal(body.value, 25)
  await waitFor(() => seen.some((s) => s.topic === 'site/fieldgate/e2e/room1/setpoint' && (JSON.parse(s.payload) as { v: number }).v === 25), 10_000, 20, 'new setpoint reading')
  // The command itself came down from the cloud: it must never be forwarded back up.
  assert.equal(seen.filter((s) => s.topic === 'site/fieldgate/e2e/room1/setpoint/set').length, 0)
})

test('SIGHUP with an invalid config is refused and the gateway keeps running; a valid one is applied', { timeout: 30_000 }, async () => {
  writeFileSync(join(dir, 'gateway.toml'), config('200ms').replace('driver = "simulated"', 'driver = "simulated"\nbogus_key = 1'))
  const before = gw.log.join('').length
  gw.proc.kill('SIGHUP')
  await waitFor(() => gw.log.join('').slice(before).includes('config reload refused'), 10_000, 20, 'refused reload logged')
  assert.match(gw.log.join('').slice(before), /bogus_key/)
  assert.equal((await getJson('/healthz')).status, 200)

  writeFileSync(join(dir, 'gateway.toml'), config('300ms'))
  const before2 = gw.log.join('').length
  gw.proc.kill('SIGHUP')
  await waitFor(() => gw.log.join('').slice(before2).includes('config reloaded'), 10_000, 20, 'reload applied')
  assert.match(gw.log.join('').slice(before2), /devices restarted: room1/)
})

test('SIGTERM stops the gateway within 5 seconds with exit code 0, leaving a retained offline upstream', { timeout: 20_000 }, async () => {
  // main.ts exits 1 when a graceful stop overruns its 4.5 s deadline, so exit code 0 means it finished in time.
  const exit = await gw.kill('SIGTERM')
  assert.equal(exit.code, 0, gw.log.join('').slice(-2000))
  assert.match(gw.log.join(''), /fieldgate stopped/)
  await waitFor(() => seen.filter((s) => s.topic === 'fieldgate/e2e/status').at(-1)?.payload === 'offline', 5000, 20, 'offline status')
})

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { patchConfigText } from '../../src/config/index.ts'
import { configHash, FleetStore } from '../../src/fleet/store.ts'
import { managedGatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { connectAsync } from 'mqtt'
import { Operator } from './operator.ts'

/**
 * Two real gateway processes under management through one Mosquitto (the cloud, with passwords):
 * `fa` on MQTT 5, `fb` on MQTT 3.1.1. An MQTT.js operator watches inventories and events and sends requests.
 */
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
const SECRET = 'gw-s3cret'
let dir: string
let cleanup: () => void
let cloud: MosquittoHandle
let op5: Operator
let op4: Operator

interface Node {
  id: string
  version: 4 | 5
  dir: string
  lan: number
  proc?: GatewayProcess
  text: string
}
const nodes: Record<'a' | 'b', Node> = {} as Record<'a' | 'b', Node>

function toml(n: Node, o: { password?: string; port?: number; level?: 'debug' | 'info' | 'warn'; extra?: string } = {}): string {
  return managedGatewayToml({
    id: n.id,
    port: n.lan,
    dataDir: join(n.dir, 'data'),
    logLevel: o.level ?? 'info',
    cloudUrl: `mqtt://127.0.0.1:${o.port ?? cloud.port}`,
    protocolVersion: n.version,
    username: 'gw',
    ...(o.password === undefined ? { passwordFile: join(dir, 'gw.pass') } : { password: o.password }),
    commitDeadline: '20s',
    after: `${n.version === 5 ? '[[uplinks.forward]]\nfilter = "#"\nqos = 1\n' : ''}${o.extra ?? ''}`,
  })
}

async function start(n: Node): Promise<void> {
  n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
}

const inv = (n: Node): Record<string, unknown> | undefined => op5.inventory.get(n.id)
const invConfig = (n: Node): { hash?: string; source?: string } => (inv(n)?.config ?? {}) as { hash?: string; source?: string }

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-fleet-'))
  const pw = join(dir, 'passwd')
  writeFileSync(pw, '')
  execFileSync('mosquitto_passwd', ['-b', pw, 'gw', SECRET], { timeout: 10_000 })
  execFileSync('mosquitto_passwd', ['-b', pw, 'op', 'op-pass'], { timeout: 10_000 })
  // Mosquitto started as root drops to its own user, which must read the file.
  chmodSync(dir, 0o755)
  chmodSync(pw, 0o644)
  writeFileSync(join(dir, 'gw.pass'), `${SECRET}\n`)
  cloud = await startMosquitto({ extra: ['allow_anonymous false', `password_file ${pw}`] })
  for (const [k, version] of [['a', 5], ['b', 4]] as const) {
    const n: Node = { id: `site-${k}`, version, dir: join(dir, k), lan: await freePort(), text: '' }
    mkdirSync(n.dir)
    n.text = toml(n)
    nodes[k] = n
  }
  op5 = await Operator.connect(cloud.port, 5, { username: 'op', password: 'op-pass' })
  op4 = await Operator.connect(cloud.port, 4, { username: 'op', password: 'op-pass' })
  await Promise.all([start(nodes.a), start(nodes.b)])
  // Requests sent before a gateway subscribed would be lost (clean sessions): wait for both inventories.
  for (const n of Object.values(nodes)) await waitFor(() => inv(n)?.online === true, 60_000, 50, `${n.id} online`)
})

after(async () => {
  await Promise.all(Object.values(nodes).map((n) => n.proc?.kill()))
  await op5?.close()
  await op4?.close()
  await cloud?.stop()
  cleanup()
})

test('each gateway publishes a retained inventory that names its version, config hash and health, and no secret', async () => {
  for (const n of Object.values(nodes)) {
    // Published on connect, then again as soon as the uplink is up too.
    await waitFor(() => inv(n)?.online === true && (inv(n)?.health as { overall?: string }).overall === 'ok', 60_000, 50, `${n.id} inventory`).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(inv(n)?.health)}`)
    })
    const i = inv(n) as Record<string, unknown>
    assert.equal(i.version, JSON.parse(readFileSync('package.json', 'utf8')).version)
    assert.equal(invConfig(n).hash, configHash(n.text))
    assert.ok(!JSON.stringify(i).includes(SECRET))
    assert.equal(i.mgmt && (i.mgmt as { protocol: string }).protocol, n.version === 5 ? 'mqtt5' : 'mqtt3.1.1')
  }
  // Retained: a newcomer sees the fleet with one subscription.
  const late = await Operator.connect(cloud.port, 5, { username: 'op', password: 'op-pass' })
  await waitFor(() => late.inventory.size >= 2, 5000, 20, 'retained inventories')
  await late.close()
})

test('a late Last Will marking the inventory offline while the gateway is online (a dead cluster node\'s, published after the failover) is answered with the inventory again', async () => {
  for (const n of Object.values(nodes)) {
    // Settled first: a change of health would republish the inventory anyway.
    await waitFor(() => inv(n)?.online === true && (inv(n)?.health as { overall?: string } | undefined)?.overall === 'ok', 60_000, 50, `${n.id} online and healthy`)
    const topic = `fieldgate/${n.id}/mgmt/inventory`
    const seen: boolean[] = []
    const record = (t: string, payload: Buffer): void => {
      if (t === topic) seen.push((JSON.parse(payload.toString()) as { online: boolean }).online)
    }
    op5.client.on('message', record)
    const will = { ...inv(n), online: false, reason: 'connection lost (Last Will)' }
    await op5.client.publishAsync(topic, JSON.stringify(will), { qos: 1, retain: true })
    await waitFor(() => seen.indexOf(true, seen.indexOf(false)) > 0, 10_000, 20, `${n.id}: the Will, then the inventory again`)
    op5.client.off('message', record)
    const late = await Operator.connect(cloud.port, 5, { username: 'op', password: 'op-pass' })
    try {
      await waitFor(() => late.inventory.has(n.id), 5000, 20, 'the retained inventory')
      assert.equal((late.inventory.get(n.id) as { online?: boolean }).online, true, `${n.id}'s retained inventory says online`)
    } finally {
      await late.close()
    }
  }
})

test('an invalid config is refused with check\'s message and nothing changes', async () => {
  const n = nodes.b
  const kept = (): number => (existsSync(join(n.dir, 'data', 'fleet', 'configs')) ? readdirSync(join(n.dir, 'data', 'fleet', 'configs')).length : 0)
  const before = kept()
  const bad = n.text.replace('[status]\n', '[status]\nhots = "x"\n')
  const r = await op4.request(n.id, 'config', { config: bad })
  assert.equal(r.state, 'refused')
  assert.match(String(r.reason), /status\.hots .*unknown key "hots"/)
  assert.ok(Array.isArray(r.checks))
  assert.equal(invConfig(n).hash, configHash(n.text))
  assert.ok(!existsSync(join(n.dir, 'data', 'fleet', 'trial.json')))
  assert.equal(kept(), before)
})

test('a good config is applied and committed (MQTT 5 request/response), and a restart keeps it', async () => {
  const n = nodes.a
  const next = toml(n, { level: 'debug' })
  const r = await op5.request(n.id, 'config', { config: next })
  assert.equal(r.state, 'committed', JSON.stringify(r))
  assert.equal(r.hash, configHash(next))
  assert.equal(r.previous_hash, configHash(n.text))
  await waitFor(() => invConfig(n).hash === configHash(next), 30_000, 50, 'inventory with the new hash')
  assert.equal(invConfig(n).source, 'remote')
  assert.ok(op5.events.some((e) => e.id === n.id && e.state === 'committed'))
  // A clean stop marks it offline itself; the restart runs the committed config, not the file.
  await n.proc?.kill('SIGTERM')
  await waitFor(() => inv(n)?.online === false, 30_000, 50, 'offline inventory')
  n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
  await waitFor(() => inv(n)?.online === true, 60_000, 50, 'back online')
  assert.equal(invConfig(n).hash, configHash(next))
  assert.equal(invConfig(n).source, 'remote')
  n.text = next
})

test('a config patch (JSON merge patch onto the running config) is checked, applied and committed like a whole config; a bad one changes nothing', async () => {
  const n = nodes.a
  // Merged into the running config: only log.level changes.
  const patch = { log: { level: 'warn' } }
  const expected = patchConfigText(n.text, patch)
  const r = await op5.request(n.id, 'config', { patch })
  assert.equal(r.state, 'committed', JSON.stringify(r))
  assert.equal(r.hash, configHash(expected))
  assert.equal(r.previous_hash, configHash(n.text))
  await waitFor(() => invConfig(n).hash === configHash(expected), 30_000, 50, 'inventory with the patched hash')
  n.text = expected
  // null removes a key: the [log] table goes, its defaults apply.
  const removed = patchConfigText(n.text, { log: null })
  assert.ok(!removed.includes('[log]'))
  const r2 = await op5.request(n.id, 'config', { patch: { log: null } })
  assert.equal(r2.state, 'committed', JSON.stringify(r2))
  assert.equal(r2.hash, configHash(removed))
  n.text = removed
  await waitFor(() => invConfig(n).hash === configHash(removed), 30_000, 50, 'inventory after the removal')
  // Refused, nothing changes: a patch the check refuses (with its message), a patch that is not an object, both forms at once.
  const bad = await op5.request(n.id, 'config', { patch: { status: { hots: 'x' } } })
  assert.equal(bad.state, 'refused')
  assert.match(String(bad.reason), /status\.hots .*unknown key "hots"/)
  const notObject = await op5.request(n.id, 'config', { patch: ['log'] })
  assert.match(String(notObject.reason), /"patch" is a JSON object/)
  const untoml = await op5.request(n.id, 'config', { patch: { log: { level: [null] } } })
  assert.match(String(untoml.reason), /the patch cannot be applied: the patched config cannot be written as TOML/)
  const both = await op5.request(n.id, 'config', { patch: { log: { level: 'debug' } }, config: n.text })
  assert.match(String(both.reason), /either "config" .* or "patch", not both/)
  assert.equal(invConfig(n).hash, configHash(n.text))
})

test('a config that commits never shows the gateway offline: the old management connection ends with a DISCONNECT, so the broker drops its Will', async () => {
  for (const n of Object.values(nodes)) {
    await waitFor(() => inv(n)?.online === true, 30_000, 50, `${n.id} online`)
    const topic = `fieldgate/${n.id}/mgmt/inventory`
    const seen: Array<{ online: boolean; reason?: string }> = []
    const record = (t: string, payload: Buffer): void => {
      if (t === topic) seen.push(JSON.parse(payload.toString()) as { online: boolean; reason?: string })
    }
    op5.client.on('message', record)
    try {
      const next = toml(n, { level: 'info', extra: '\n# pushed to check the inventory stays online\n' })
      const r = await (n.version === 5 ? op5 : op4).request(n.id, 'config', { config: next })
      assert.equal(r.state, 'committed', JSON.stringify(r))
      await waitFor(() => invConfig(n).hash === configHash(next), 30_000, 50, 'inventory with the new hash')
      n.text = next
    } finally {
      op5.client.off('message', record)
    }
    assert.ok(seen.length > 0)
    assert.deepEqual(seen.filter((i) => !i.online), [], `${n.id}: the inventory said offline during a push that committed`)
  }
})

test('a technician\'s edit of the config file wins over the committed remote config (SIGHUP)', async () => {
  const n = nodes.a
  assert.equal(invConfig(n).source, 'remote')
  const edited = `${toml(n)}# edited on site\n`
  writeFileSync(join(n.dir, 'gateway.toml'), edited)
  n.proc?.proc.kill('SIGHUP')
  await waitFor(() => invConfig(n).hash === configHash(edited), 60_000, 50, 'inventory on the edited file')
  assert.equal(invConfig(n).source, 'file')
  assert.ok(!existsSync(join(n.dir, 'data', 'fleet', 'committed.json')))
  n.text = edited
})

test('MQTT 3.1.1: the reply topic and correlation id travel in the JSON body', async () => {
  const n = nodes.b
  const next = toml(n, { level: 'warn' })
  const r = await op4.request(n.id, 'config', { config: next })
  assert.equal(r.state, 'committed', JSON.stringify(r))
  assert.equal(typeof r.correlation_id, 'string')
  n.text = next
})

test('a retained request is ignored (it would come back on every reconnect) and reported', async () => {
  const n = nodes.a
  const topic = `fieldgate/${n.id}/mgmt/req/config`
  const bad = toml(n, { password: 'retained-wrong' })
  // Sent while the gateway is down, it is delivered flagged retained when the gateway subscribes again
  // (a live one is tried once like any request; its retained copy would come back after the roll-back).
  await n.proc?.kill('SIGTERM')
  await op5.client.publishAsync(topic, bad, { qos: 1, retain: true })
  try {
    n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
    const ev = await waitFor(() => op5.events.find((e) => e.id === n.id && typeof e.reason === 'string' && e.reason.startsWith('retained request')), 60_000, 50, 'retained refusal')
    assert.equal(ev.state, 'refused')
    assert.ok(!op5.events.some((e) => e.id === n.id && e.hash === configHash(bad)), 'never tried')
    await waitFor(() => inv(n)?.online === true, 60_000, 50, 'back online')
    assert.equal(invConfig(n).hash, configHash(n.text))
  } finally {
    await op5.client.publishAsync(topic, '', { qos: 1, retain: true })
  }
})

test('a config with a wrong uplink password is rolled back by itself: the gateway is reachable again and says why', async () => {
  const n = nodes.a
  const wrong = toml(n, { password: 'not-the-password', level: 'debug' })
  const r = await op5.request(n.id, 'config', { config: wrong, commit_deadline: '4s' })
  assert.equal(r.state, 'rolled_back', JSON.stringify(r))
  assert.match(String(r.reason), /not healthy within 4000 ms: management link not back online \(.*(Not authorized|Bad User Name or Password)/i)
  assert.ok(!String(r._raw).includes('not-the-password'), 'the reply does not quote the password')
  // Reachable on the previous config.
  const ping = await op5.request(n.id, 'inventory', {}, 60_000)
  assert.equal(ping.ok, true)
  assert.equal(((ping.inventory as { config: { hash: string } }).config).hash, configHash(n.text))
  const states = op5.events.filter((e) => e.id === n.id && e.hash === configHash(wrong)).map((e) => e.state)
  assert.deepEqual(states, ['applying', 'rolling_back', 'rolled_back'])
})

test('kill -9 in the commit window leaves the gateway on the previous config after restart, and it reports the roll-back', async () => {
  const n = nodes.b
  const typo = toml(n, { port: await freePort(), level: 'debug' })
  op4.send(n.id, 'config', { config: typo, commit_deadline: '60s' })
  await waitFor(() => op5.events.some((e) => e.id === n.id && e.state === 'applying' && e.hash === configHash(typo)), 60_000, 20, 'applying event').catch(async (err: unknown) => {
    throw new Error(`${String(err)}; events: ${JSON.stringify(op5.events.filter((e) => e.id === n.id))}`)
  })
  await n.proc?.kill('SIGKILL')
  await waitFor(() => inv(n)?.online === false, 60_000, 50, 'Last Will marks it offline')
  assert.equal((inv(n) as { reason?: string }).reason, 'connection lost (Last Will)')
  n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
  await waitFor(() => inv(n)?.online === true, 60_000, 50, 'back online')
  assert.equal(invConfig(n).hash, configHash(n.text))
  const ev = await waitFor(() => op5.events.find((e) => e.id === n.id && e.after === 'restart'), 30_000, 50, 'restart event')
  assert.equal(ev.state, 'rolled_back')
  assert.equal(ev.hash, configHash(typo))
  assert.ok(!existsSync(join(n.dir, 'data', 'fleet', 'trial.json')))
})

test('SIGTERM in the commit window stops at once, uncommitted: the restart runs the previous config and reports it', async () => {
  const n = nodes.b
  const typo = toml(n, { port: await freePort(), level: 'info' })
  op4.send(n.id, 'config', { config: typo, commit_deadline: '120s' })
  await waitFor(() => op5.events.some((e) => e.id === n.id && e.state === 'applying' && e.hash === configHash(typo)), 60_000, 20, 'applying event')
  // The helper escalates to SIGKILL after 10 s: a clean exit shows the window did not hold the stop up.
  const dying = n.proc as GatewayProcess
  const exit = await dying.kill('SIGTERM')
  assert.deepEqual(exit, { code: 0, signal: null }, dying.log.join('').split('\n').slice(-15).join('\n'))
  n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
  await waitFor(() => inv(n)?.online === true && invConfig(n).hash === configHash(n.text), 60_000, 50, 'back online on the previous config')
  const ev = await waitFor(() => op5.events.find((e) => e.id === n.id && e.after === 'restart' && e.hash === configHash(typo)), 30_000, 50, 'restart report')
  assert.equal(ev.state, 'rolled_back')
})

/** Listens on `port` when it is free, else null. */
function takePort(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(null))
    srv.listen(port, '127.0.0.1', () => resolve(srv))
  })
}

test('a rollback that cannot re-apply the previous config restarts the gateway, and the next start reports rolled_back with the reason', async () => {
  const n = nodes.a
  // The pushed config moves the LAN listener and has a wrong password: it fails its gate. Once it runs,
  // the old port is taken, so re-applying the previous config fails and the gateway exits to restart.
  const moved = { ...n, lan: await freePort() }
  const wrong = toml(moved, { password: 'not-the-password' })
  op5.send(n.id, 'config', { config: wrong, commit_deadline: '5s' })
  const blocker = await waitFor(() => takePort(n.lan), 60_000, 20, 'the old LAN port released by the new config')
  try {
    const dying = n.proc as GatewayProcess
    const exit = await dying.exited
    assert.equal(exit.code, 1, dying.log.join('').split('\n').slice(-15).join('\n'))
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()))
  }
  n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
  await waitFor(() => inv(n)?.online === true && invConfig(n).hash === configHash(n.text), 60_000, 50, 'back online on the previous config')
  const ev = await waitFor(() => op5.events.find((e) => e.id === n.id && e.after === 'restart' && e.hash === configHash(wrong)), 30_000, 50, 'restart report')
  assert.equal(ev.state, 'rolled_back')
  assert.match(String(ev.reason), /not healthy within 5000 ms: management link not back online/)
  assert.match(String(ev.reason), /could not re-apply the previous config/)
  assert.ok(!String(ev.reason).includes('not-the-password'))
  assert.ok(!existsSync(join(n.dir, 'data', 'fleet', 'trial.json')))
})

test('a config file edited during the commit window wins: the commit is recorded against the file as it was when the push started, and says so', async () => {
  const n = nodes.a
  // The pushed config reaches the cloud through a port nobody listens on yet, so its window stays open
  // until the test opens a relay there: the technician's edit happens in between.
  const relayPort = await freePort()
  const pushed = toml(n, { port: relayPort, level: 'debug' })
  const reply = op5.request(n.id, 'config', { config: pushed, commit_deadline: '60s' }, 90_000)
  await waitFor(() => op5.events.some((e) => e.id === n.id && e.state === 'applying' && e.hash === configHash(pushed)), 60_000, 20, 'applying event')
  const edited = `${n.text}# edited on site during the window\n`
  writeFileSync(join(n.dir, 'gateway.toml'), edited)
  const relay = createServer((sock) => {
    const up = connect(cloud.port, '127.0.0.1')
    sock.pipe(up).pipe(sock)
    sock.on('error', () => up.destroy())
    up.on('error', () => sock.destroy())
  })
  await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', () => resolve()))
  try {
    const r = await reply
    assert.equal(r.state, 'committed', JSON.stringify(r))
    assert.match(String(r.detail), /config file changed during the commit window/)
    const committed = JSON.parse(readFileSync(join(n.dir, 'data', 'fleet', 'committed.json'), 'utf8')) as { base_hash: string }
    assert.equal(committed.base_hash, configHash(n.text))
    // A restart runs the edited file, not the remote config.
    await n.proc?.kill()
    n.text = edited
    n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
    await waitFor(() => inv(n)?.online === true && invConfig(n).hash === configHash(edited), 60_000, 50, 'back online on the edited file')
    assert.equal(invConfig(n).source, 'file')
  } finally {
    relay.close()
    relay.unref()
  }
})

test('a committed remote config that crashes every cold start is dropped after 3 of them: the config file runs and the fall-back is reported', async () => {
  const n = nodes.b
  await n.proc?.kill()
  // A committed remote config whose LAN listener cannot bind: every start with it fails.
  const blocker = await waitFor(async () => takePort(await freePort()), 10_000, 20, 'a port to block')
  try {
    const port = (blocker.address() as { port: number }).port
    const bad = toml({ ...n, lan: port })
    const store = new FleetStore(join(n.dir, 'data', 'fleet'), 5)
    const file = store.saveConfig(bad, configHash(bad))
    store.commit({ file, hash: configHash(bad), base_hash: configHash(n.text), committed_at: new Date().toISOString() })
    for (let i = 1; i <= 3; i++) {
      await assert.rejects(startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 }), /exited early/, `start ${i}`)
      assert.deepEqual(store.readColdStarts(), { hash: configHash(bad), starts: i })
    }
    n.proc = await startGateway(n.dir, n.text, { waitPort: n.lan, env: cleanEnv(), timeout: 60_000 })
    await waitFor(() => inv(n)?.online === true && invConfig(n).hash === configHash(n.text), 60_000, 50, 'online on the config file')
    assert.equal(invConfig(n).source, 'file')
    const ev = await waitFor(() => op5.events.find((e) => e.id === n.id && e.after === 'restart' && e.hash === configHash(bad)), 30_000, 50, 'fall-back report')
    assert.equal(ev.state, 'rolled_back')
    assert.match(String(ev.reason), /did not reach health in 3 starts/)
    assert.equal(store.readCommitted(), null)
    assert.equal(store.readColdStarts(), null)
  } finally {
    await new Promise<void>((resolve) => blocker.close(() => resolve()))
  }
})

test('a LAN client cannot reach a management topic through a forward rule ("#" forwards everything else)', async () => {
  const lan = await connectAsync(`mqtt://127.0.0.1:${nodes.a.lan}`, { clientId: 'lan-device', reconnectPeriod: 0 })
  const seen: string[] = []
  op5.client.on('message', (topic) => seen.push(topic))
  await op5.client.subscribeAsync('plant/#', { qos: 1 })
  try {
    await lan.publishAsync(`fieldgate/${nodes.b.id}/mgmt/req/inventory`, JSON.stringify({ reply_to: 'ops/replies/lan', correlation_id: 'from-lan' }), { qos: 1 })
    await lan.publishAsync('plant/line1/temp', '21.5', { qos: 1 })
    // One FIFO queue: once the later message is in the cloud, the earlier one would have been too.
    await waitFor(() => seen.includes('plant/line1/temp'), 30_000, 20, 'the control message in the cloud')
    assert.ok(!seen.includes(`fieldgate/${nodes.b.id}/mgmt/req/inventory`))
    // B answers in order: a LAN request that had reached it would show before this one.
    const r = await op4.request(nodes.b.id, 'inventory', {}, 60_000)
    assert.equal(r.ok, true)
    assert.ok(!op5.events.some((e) => e.correlation_id === 'from-lan'))
  } finally {
    await lan.endAsync()
  }
})

test('remote diagnostics: recent log lines and the /status JSON on request, rate-limited, without secrets', async () => {
  const n = nodes.a
  const logs = await op5.request(n.id, 'logs', { lines: 50 }, 60_000)
  assert.equal(logs.ok, true, JSON.stringify(logs))
  const lines = logs.lines as string[]
  assert.ok(lines.length > 0 && lines.length <= 50)
  assert.ok(lines.some((l) => (JSON.parse(l) as { msg?: string }).msg === 'management request received'))
  const st = await op5.request(n.id, 'status', {}, 60_000)
  assert.equal(st.ok, true, JSON.stringify(st))
  const status = st.status as { gateway_id: string; sources: Record<string, unknown> }
  assert.equal(status.gateway_id, n.id)
  assert.ok('fleet' in status.sources && 'uplink:cloud' in status.sources)
  assert.ok(!String(st._raw).includes(SECRET) && !String(logs._raw).includes(SECRET))
  // A burst: the first few are answered, the rest refused with when to retry.
  const burst = await Promise.all(Array.from({ length: 12 }, () => op5.request(n.id, 'status', {}, 60_000)))
  const refused = burst.filter((r) => r.state === 'refused')
  assert.ok(refused.length >= 1 && refused.length < 12, `refused ${refused.length} of 12`)
  assert.match(String(refused[0]?.reason), /rate limited: .* retry in \d+ s/)
  assert.equal(typeof refused[0]?.retry_after_ms, 'number')
})

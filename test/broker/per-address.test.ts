import assert from 'node:assert/strict'
import { connect as netConnect, type Socket } from 'node:net'
import { test } from 'node:test'
import { connect as tlsConnect } from 'node:tls'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { WebSocket } from 'ws'
import { readFileSync } from 'node:fs'
import { createBroker, type Broker } from '../../src/broker/index.ts'
import { makeTestCerts } from '../helpers/certs.ts'
import { brokerSchema } from '../../src/config/sections/broker.ts'
import { waitFor } from '../helpers/tmp.ts'
import { freePort } from '../helpers/ports.ts'
import { captureLogger, type LogRecord } from './security/setup.ts'
import { brokerSettings } from '../../src/gateway/options/broker.ts'

// Every test runs on 127.0.0.1; two "hosts" are told apart by binding client sockets to other loopback
// source addresses (Linux routes all of 127.0.0.0/8 to lo).
const HOST_A = '127.0.0.2'
const HOST_B = '127.0.0.3'

interface Gw {
  broker: Broker
  mqttPort: number
  wsPort: number
  tlsPort: number
  logs: LogRecord[]
  close(): Promise<void>
}

async function start(limits: Record<string, unknown>, tls?: { cert_file: string; key_file: string }): Promise<Gw> {
  const [mqttPort, wsPort, tlsPort] = [await freePort(), await freePort(), await freePort()]
  const config = brokerSchema.parse({
    listeners: [
      { protocol: 'mqtt', host: '127.0.0.1', port: mqttPort },
      { protocol: 'ws', host: '127.0.0.1', port: wsPort },
      ...(tls === undefined ? [] : [{ protocol: 'mqtts', host: '127.0.0.1', port: tlsPort, tls }]),
    ],
    sys_interval: 0,
    // a long CONNECT deadline: whatever lets the good client in below, it is not the idle sockets timing out
    limits: { connect_timeout: 120_000, ...limits },
  })
  const logs: LogRecord[] = []
  const broker = await createBroker({ ...brokerSettings(config), logger: captureLogger(logs), gatewayId: 'caps' })
  await broker.listen()
  return { broker, mqttPort, wsPort, tlsPort, logs, close: () => broker.close() }
}

interface Idle {
  sockets: Array<Socket | WebSocket>
  closed: () => number
  destroy(): void
}

/** `n` TCP sockets from `localAddress` that connect and never send a byte. */
async function idleTcp(port: number, n: number, localAddress: string): Promise<Idle> {
  const sockets: Socket[] = []
  let closed = 0
  for (let i = 0; i < n; i++) {
    const s = netConnect({ host: '127.0.0.1', port, localAddress })
    s.on('error', () => undefined)
    s.on('close', () => closed++)
    sockets.push(s)
  }
  await waitFor(() => sockets.every((s) => !s.connecting), 20_000, 20, 'the idle sockets to connect')
  return { sockets, closed: () => closed, destroy: () => sockets.forEach((s) => s.destroy()) }
}

/** `n` WebSockets from `localAddress` that finish the upgrade and never send CONNECT. */
async function idleWs(port: number, n: number, localAddress: string): Promise<Idle> {
  const sockets: WebSocket[] = []
  let closed = 0
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt', { localAddress })
    ws.on('error', () => undefined)
    ws.once('close', () => closed++)
    sockets.push(ws)
  }
  await waitFor(() => sockets.every((s) => s.readyState !== WebSocket.CONNECTING), 20_000, 20, 'the idle WebSockets to open')
  return { sockets, closed: () => closed, destroy: () => sockets.forEach((s) => s.terminate()) }
}

/** Connects without retries; rejects when the broker closes the socket before CONNACK. */
function connectFrom(url: string, localAddress: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const base: IClientOptions = { reconnectPeriod: 0, connectTimeout: 30_000, ...opts }
    // MQTT.js's TCP transport does not pass localAddress on; its WebSocket transport takes it in wsOptions
    const c =
      u.protocol === 'ws:'
        ? mqtt.connect(url, { ...base, wsOptions: { localAddress } })
        : u.protocol === 'mqtts:'
          ? new mqtt.MqttClient(() => tlsConnect({ socket: netConnect({ host: u.hostname, port: Number(u.port), localAddress }), ca: base.ca as Buffer, servername: 'localhost' }), base)
          : new mqtt.MqttClient(() => netConnect({ host: u.hostname, port: Number(u.port), localAddress }), base)
    const fail = (why: string) => (): void => {
      c.end(true)
      reject(new Error(`${url} from ${localAddress}: ${why} before CONNACK`))
    }
    c.once('connect', () => {
      c.removeAllListeners('close')
      c.removeAllListeners('error')
      resolve(c)
    })
    c.once('close', fail('closed'))
    c.once('error', fail('error'))
  })
}

async function qos1RoundTrip(c: MqttClient, topic: string): Promise<void> {
  const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())))
  await c.subscribeAsync(topic, { qos: 1 })
  await c.publishAsync(topic, 'served', { qos: 1 })
  assert.equal(await got, 'served')
}

function hits(gw: Gw): Record<string, number> {
  return (gw.broker.status().details as { limitHits: Record<string, number> }).limitHits
}

test('200 idle sockets from one host do not lock a device on another host out of max_connections', { timeout: 90_000 }, async () => {
  const gw = await start({ max_connections: 200 })
  const idle = await idleTcp(gw.mqttPort, 200, HOST_A)
  try {
    const good = await connectFrom(`mqtt://127.0.0.1:${gw.mqttPort}`, HOST_B, { protocolVersion: 5, clientId: 'device-b' })
    await qos1RoundTrip(good, 'caps/b')
    await good.endAsync()
    // the default per-address cap on sockets awaiting CONNECT (16) refused the rest at once
    await waitFor(() => idle.closed() >= 200 - 16, 20_000, 20, 'the refused idle sockets to be closed')
    assert.equal(idle.closed(), 200 - 16)
    assert.equal(hits(gw).pending_per_address, 200 - 16)
    const warns = gw.logs.filter((r) => r.level === 'warn' && String(r.obj.limit) === 'pending_per_address')
    assert.ok(warns.length >= 1 && warns.length <= 2, `refusals logged rate-limited, not one line each: ${warns.length}`)
  } finally {
    idle.destroy()
    await gw.close()
  }
})

test('the same holds on a WebSocket listener: idle upgraded WebSockets do not lock others out', { timeout: 90_000 }, async () => {
  const gw = await start({ max_connections: 60 })
  const idle = await idleWs(gw.wsPort, 60, HOST_A)
  try {
    const good = await connectFrom(`ws://127.0.0.1:${gw.wsPort}/mqtt`, HOST_B, { protocolVersion: 4, clientId: 'browser-b' })
    await qos1RoundTrip(good, 'caps/ws')
    await good.endAsync()
    await waitFor(() => idle.closed() >= 60 - 16, 20_000, 20, 'the refused WebSockets to be closed')
    assert.equal(hits(gw).pending_per_address, 60 - 16)
  } finally {
    idle.destroy()
    await gw.close()
  }
})

test('when max_connections is reached, the oldest socket still awaiting CONNECT makes room for a new one', { timeout: 90_000 }, async () => {
  const gw = await start({ max_connections: 40, max_pending_per_address: 0 })
  const idle = await idleTcp(gw.mqttPort, 40, HOST_A)
  try {
    assert.equal(idle.closed(), 0, 'no per-address cap: all 40 held')
    const good = await connectFrom(`mqtt://127.0.0.1:${gw.mqttPort}`, HOST_B, { protocolVersion: 4, clientId: 'device-b' })
    await qos1RoundTrip(good, 'caps/evict')
    await waitFor(() => idle.closed() >= 1, 10_000, 20, 'the evicted socket to close')
    assert.equal((idle.sockets[0] as Socket).destroyed, true, 'the oldest one was evicted')
    assert.equal(hits(gw).pending_evicted, 1)
    // connected clients are never evicted: with every slot taken by CONNECTed clients, a new socket is refused
    idle.destroy()
    await waitFor(() => (gw.broker.status().details as { clients: { connections: number } }).clients.connections === 1, 10_000, 20, 'idle sockets gone')
    const full = await start({ max_connections: 2 })
    try {
      const a = await connectFrom(`mqtt://127.0.0.1:${full.mqttPort}`, HOST_A, { clientId: 'a' })
      const b = await connectFrom(`mqtt://127.0.0.1:${full.mqttPort}`, HOST_B, { clientId: 'b' })
      await assert.rejects(connectFrom(`mqtt://127.0.0.1:${full.mqttPort}`, HOST_B, { clientId: 'c' }), /closed before CONNACK/)
      assert.equal(hits(full).connections, 1)
      assert.ok(a.connected && b.connected)
      await Promise.all([a.endAsync(), b.endAsync()])
    } finally {
      await full.close()
    }
    await good.endAsync()
  } finally {
    idle.destroy()
    await gw.close()
  }
})

test('max_connections_per_address refuses one host beyond its cap while another host connects', { timeout: 60_000 }, async () => {
  const gw = await start({ max_connections_per_address: 3 })
  const url = `mqtt://127.0.0.1:${gw.mqttPort}`
  try {
    const mine = await Promise.all([1, 2, 3].map((i) => connectFrom(url, HOST_A, { clientId: `a-${i}` })))
    await assert.rejects(connectFrom(url, HOST_A, { clientId: 'a-4' }), /closed before CONNACK/)
    assert.equal(hits(gw).connections_per_address, 1)
    const other = await connectFrom(url, HOST_B, { clientId: 'b-1' })
    await qos1RoundTrip(other, 'caps/per-address')
    assert.ok(mine.every((c) => c.connected))
    // a slot freed by a client that left is free again
    await mine[0]?.endAsync()
    await waitFor(() => (gw.broker.status().details as { clients: { connections: number } }).clients.connections === 3, 10_000, 20, 'a-1 gone')
    const again = await connectFrom(url, HOST_A, { clientId: 'a-4' })
    await Promise.all([again, other, mine[1], mine[2]].map((c) => c?.endAsync()))
  } finally {
    await gw.close()
  }
})

test('the gateway itself (127.0.0.1, ::1) is exempt from the per-address caps; per_address_exempt can be changed', { timeout: 60_000 }, async () => {
  const gw = await start({ max_pending_per_address: 2, max_connections_per_address: 2 })
  const local = await idleTcp(gw.mqttPort, 10, '127.0.0.1')
  const other = await idleTcp(gw.mqttPort, 10, HOST_A)
  try {
    await waitFor(() => other.closed() >= 8, 10_000, 20, 'host A refused beyond 2')
    assert.equal(local.closed(), 0)
    assert.equal(other.closed(), 8)
  } finally {
    local.destroy()
    other.destroy()
    await gw.close()
  }
  const gw2 = await start({ max_pending_per_address: 2, per_address_exempt: [HOST_A] })
  const exempt = await idleTcp(gw2.mqttPort, 10, HOST_A)
  const capped = await idleTcp(gw2.mqttPort, 10, '127.0.0.1')
  try {
    await waitFor(() => capped.closed() >= 8, 10_000, 20, '127.0.0.1 refused beyond 2 once it is not exempt')
    assert.equal(exempt.closed(), 0)
  } finally {
    exempt.destroy()
    capped.destroy()
    await gw2.close()
  }
})

test('sockets stuck before the TLS handshake or the WebSocket upgrade are capped per address too', { timeout: 90_000 }, async () => {
  const certs = makeTestCerts([])
  // connect_timeout is also the handshake deadline: 120 s, so nothing below is that deadline
  const gw = await start({}, { cert_file: certs.serverCert, key_file: certs.serverKey })
  const tls = await idleTcp(gw.tlsPort, 100, HOST_A)
  const ws = await idleTcp(gw.wsPort, 100, HOST_A)
  try {
    await waitFor(() => tls.closed() + ws.closed() >= 200 - 16, 20_000, 20, 'sockets beyond the cap to be refused')
    assert.equal(tls.closed() + ws.closed(), 200 - 16, 'host A keeps 16 sockets awaiting CONNECT, handshakes included')
    assert.equal(hits(gw).pending_per_address, 200 - 16)
    const good = await connectFrom(`mqtts://127.0.0.1:${gw.tlsPort}`, HOST_B, { protocolVersion: 5, clientId: 'tls-b', ca: readFileSync(certs.caCert) })
    await qos1RoundTrip(good, 'caps/tls')
    await good.endAsync()
    // the same host gets in again once its stuck sockets are gone
    tls.destroy()
    ws.destroy()
    const again = await waitFor(
      () => connectFrom(`mqtts://127.0.0.1:${gw.tlsPort}`, HOST_A, { clientId: 'tls-a', ca: readFileSync(certs.caCert) }).catch(() => null),
      20_000,
      100,
      'host A connecting after its idle sockets closed',
    )
    await again.endAsync()
  } finally {
    tls.destroy()
    ws.destroy()
    await gw.close()
    certs.cleanup()
  }
})

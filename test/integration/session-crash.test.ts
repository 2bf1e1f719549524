import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { gatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { PowerCutDisk } from '../helpers/power-cut.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

/*
 * A QoS 1/2 message acknowledged to its publisher (PUBACK / PUBREC) is on disk for every persistent
 * session it is owed to, so a kill -9 right after the last acknowledgement loses none of them.
 */

const QOS1_PER_PUBLISHER = 250
const QOS2_PER_PUBLISHER = 40
/** Publishes in flight per publisher: several at once, so the group commit has something to group. */
const PUB_WINDOW = 16

interface Payload {
  p: number
  seq: number
}

function config(dir: string, port: number): string {
  return gatewayToml({ id: 'session-crash', port, dataDir: `${dir}/data` })
}

/** Publishes QoS 1 then QoS 2 messages (p, seq) with a bounded window; resolves when every one is acknowledged. */
async function publishAll(port: number, p: number, protocolVersion: 4 | 5): Promise<number> {
  const client = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId: `pub-${p}`, protocolVersion, clean: true, reconnectPeriod: 0 })
  const total = QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER
  try {
    let next = 0
    let acked = 0
    await new Promise<void>((resolve, reject) => {
      const pump = (): void => {
        while (next < total && next - acked < PUB_WINDOW) {
          const seq = next++
          const qos = seq < QOS1_PER_PUBLISHER ? 1 : 2
          client.publish(`lan/p${p}`, JSON.stringify({ p, seq }), { qos }, (err) => {
            if (err) return reject(err)
            acked++
            if (acked === total) resolve()
            else pump()
          })
        }
      }
      pump()
    })
    return acked
  } finally {
    client.end(true)
  }
}

/** Every (p, seq) for seq < total arrived; per publisher, first arrivals are in publish order; duplicates are few. */
function checkReceived(t: { diagnostic(s: string): void }, who: string, received: Payload[], publishers: number, maxDups: number): void {
  const total = QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER
  for (let p = 0; p < publishers; p++) {
    const seqs = received.filter((r) => r.p === p).map((r) => r.seq)
    const firsts: number[] = []
    const seen = new Set<number>()
    for (const s of seqs) {
      if (seen.has(s)) continue
      seen.add(s)
      firsts.push(s)
    }
    const missing = total - seen.size
    t.diagnostic(`${who}, publisher ${p}: ${seen.size} of ${total} distinct, ${seqs.length - firsts.length} duplicates`)
    assert.equal(missing, 0, `${who}: ${missing} of ${total} acknowledged messages from publisher ${p} lost`)
    assert.deepEqual(firsts, [...firsts].sort((a, b) => a - b), `${who}: publisher ${p} order`)
    assert.ok(seqs.length - firsts.length <= maxDups, `${who}: ${seqs.length - firsts.length} duplicates from publisher ${p}`)
  }
}

/** Waits until `count()` reaches `target` or stops growing for 3 s (bounded by 30 s). */
async function settle(count: () => number, target: number): Promise<void> {
  let last = -1
  let still = 0
  await waitFor(() => {
    const n = count()
    if (n >= target) return true
    still = n === last ? still + 1 : 0
    last = n
    return still >= 30
  }, 30_000, 100, 'deliveries to settle')
}

function collect(client: mqtt.MqttClient, into: Payload[]): void {
  client.on('message', (_topic, payload) => into.push(JSON.parse(payload.toString()) as Payload))
}

const V5_SESSION = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } }
const V4_SESSION = { protocolVersion: 4 as const, clean: false }

test('offline persistent v5 and 3.1.1 sessions get every QoS 1/2 message acknowledged before a kill -9', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir('fieldgate-session-crash-')
  const port = await freePort()
  const toml = config(dir, port)
  let gw: GatewayProcess = await startGateway(dir, toml, { waitPort: port })
  const clients: mqtt.MqttClient[] = []
  try {
    // Create the sessions, then go offline.
    for (const [clientId, opts, qos] of [['sub-v5', V5_SESSION, 2], ['sub-v4', V4_SESSION, 1]] as const) {
      const c = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts })
      await c.subscribeAsync('lan/#', { qos })
      await c.endAsync()
    }
    const acked = await Promise.all([publishAll(port, 0, 5), publishAll(port, 1, 4)])
    await gw.kill('SIGKILL') // right after the last acknowledgement
    assert.deepEqual(acked, [QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER, QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER])

    gw = await startGateway(dir, toml, { waitPort: port })
    const got = { 'sub-v5': [] as Payload[], 'sub-v4': [] as Payload[] }
    for (const [clientId, opts] of [['sub-v5', V5_SESSION], ['sub-v4', V4_SESSION]] as const) {
      const c = mqtt.connect({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts })
      clients.push(c)
      collect(c, got[clientId])
    }
    const total = 2 * (QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER)
    await settle(() => got['sub-v5'].length + got['sub-v4'].length, 2 * total)
    // an offline session has nothing in flight: nothing is sent twice
    checkReceived(t, 'v5', got['sub-v5'], 2, 0)
    checkReceived(t, '3.1.1', got['sub-v4'], 2, 0)
  } finally {
    for (const c of clients) c.end(true)
    await gw.kill('SIGKILL').catch(() => undefined)
    cleanup()
  }
})

test('messages in flight to a connected persistent subscriber at a kill -9 are sent again after the restart', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir('fieldgate-session-crash-')
  const port = await freePort()
  const toml = config(dir, port)
  let gw: GatewayProcess = await startGateway(dir, toml, { waitPort: port })
  const clients: mqtt.MqttClient[] = []
  try {
    const firstRun: Payload[] = []
    for (const [clientId, opts, qos] of [['sub-v5', V5_SESSION, 2], ['sub-v4', V4_SESSION, 1]] as const) {
      const c = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts })
      clients.push(c)
      await c.subscribeAsync('lan/#', { qos })
      // Takes every message and never acknowledges one: what the broker sent stays in flight.
      c.handleMessage = (packet) => {
        firstRun.push(JSON.parse(packet.payload.toString()) as Payload)
      }
      c.on('error', () => undefined)
    }
    await Promise.all([publishAll(port, 0, 5), publishAll(port, 1, 4)])
    await gw.kill('SIGKILL')
    assert.ok(firstRun.length > 0, 'the subscribers were sent messages before the kill')

    gw = await startGateway(dir, toml, { waitPort: port })
    const got = { 'sub-v5': [] as Payload[], 'sub-v4': [] as Payload[] }
    for (const [clientId, opts] of [['sub-v5', V5_SESSION], ['sub-v4', V4_SESSION]] as const) {
      const c = mqtt.connect({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts })
      clients.push(c)
      collect(c, got[clientId])
    }
    const total = 2 * (QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER)
    await settle(() => got['sub-v5'].length + got['sub-v4'].length, 2 * total)
    // Nothing was acknowledged by the subscribers, so nothing may be missing after the restart either.
    checkReceived(t, 'v5', got['sub-v5'], 2, 0)
    checkReceived(t, '3.1.1', got['sub-v4'], 2, 0)
  } finally {
    for (const c of clients) c.end(true)
    await gw.kill('SIGKILL').catch(() => undefined)
    cleanup()
  }
})

test('offline persistent sessions get every QoS 1/2 message acknowledged before a power cut', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir('fieldgate-session-power-')
  const disk = PowerCutDisk.create(dir)
  const port = await freePort()
  const toml = config(disk.mountPoint, port)
  let gw: GatewayProcess | null = null
  const clients: mqtt.MqttClient[] = []
  try {
    gw = await startGateway(disk.mountPoint, toml, { waitPort: port })
    for (const [clientId, opts, qos] of [['sub-v5', V5_SESSION, 2], ['sub-v4', V4_SESSION, 1]] as const) {
      const c = await mqtt.connectAsync({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts })
      await c.subscribeAsync('lan/#', { qos })
      await c.endAsync()
    }
    await Promise.all([publishAll(port, 0, 5), publishAll(port, 1, 4)])
    // The power goes right after the last acknowledgement: the process stops where it is, and only
    // what was fsynced is on the disk that comes back.
    const dying = gw
    dying.proc.kill('SIGSTOP')
    await disk.cut(() => dying.kill('SIGKILL'))

    gw = await startGateway(disk.mountPoint, toml, { waitPort: port })
    const got = { 'sub-v5': [] as Payload[], 'sub-v4': [] as Payload[] }
    for (const [clientId, opts] of [['sub-v5', V5_SESSION], ['sub-v4', V4_SESSION]] as const) {
      const c = mqtt.connect({ host: '127.0.0.1', port, clientId, reconnectPeriod: 0, ...opts })
      clients.push(c)
      collect(c, got[clientId])
    }
    const total = 2 * (QOS1_PER_PUBLISHER + QOS2_PER_PUBLISHER)
    await settle(() => got['sub-v5'].length + got['sub-v4'].length, 2 * total)
    checkReceived(t, 'v5', got['sub-v5'], 2, 0)
    checkReceived(t, '3.1.1', got['sub-v4'], 2, 0)
  } finally {
    for (const c of clients) c.end(true)
    await gw?.kill('SIGKILL').catch(() => undefined)
    disk.close()
    cleanup()
  }
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { gatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const PUBLISHERS = 3
const WINDOW = 8
/** One message in flight per publisher, so its publish order is exactly its acknowledgement order. */
const PUB_WINDOW = 1

/**
 * Publishes (publisher, seq) QoS 1 messages with a bounded window; a message counts as acknowledged only
 * when its PUBACK arrives. After a disconnect, unacknowledged ones are published again (as a client would).
 */
class Publisher {
  readonly acked = new Set<number>()
  private next = 0
  private client: mqtt.MqttClient
  private inflight = new Set<number>()
  private stopped = false

  constructor(
    readonly id: number,
    port: number,
  ) {
    this.client = mqtt.connect({ host: '127.0.0.1', port, clientId: `crash-pub-${id}`, protocolVersion: 4, clean: true, reconnectPeriod: 100, connectTimeout: 2000 })
    this.client.on('connect', () => this.pump())
    this.client.on('close', () => {
      // whatever was in flight is unacknowledged: publish it again after reconnecting
      for (const seq of this.inflight) this.next = Math.min(this.next, seq)
      this.inflight.clear()
    })
    this.client.on('error', () => undefined)
  }

  private pump(): void {
    while (!this.stopped && this.client.connected && this.inflight.size < PUB_WINDOW) {
      const seq = this.lowestUnsent()
      this.inflight.add(seq)
      this.client.publish(`data/p${this.id}`, JSON.stringify({ p: this.id, seq }), { qos: 1 }, (err) => {
        this.inflight.delete(seq)
        if (!err) this.acked.add(seq)
        if (this.client.connected) setImmediate(() => this.pump())
      })
    }
  }

  private lowestUnsent(): number {
    while (this.acked.has(this.next) || this.inflight.has(this.next)) this.next++
    return this.next++
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.client.endAsync(true)
  }
}

function config(dir: string, port: number, upstream: number): string {
  return gatewayToml({
    id: 'crash',
    port,
    dataDir: `${dir}/data`,
    extra: `
[[uplinks]]
name = "cloud"
url = "mqtt://127.0.0.1:${upstream}"
window = ${WINDOW}
backoff = { min = "50ms", max = "300ms" }
[[uplinks.forward]]
filter = "data/#"
`,
  })
}

test('every message acknowledged to a publisher reaches the cloud in order through repeated kill -9', { timeout: 120_000 }, async (t) => {
  const { dir, cleanup } = tempDir('fieldgate-crash-')
  const port = await freePort()
  const upstream = await freePort()
  const toml = config(dir, port, upstream)
  let gw: GatewayProcess = await startGateway(dir, toml, { waitPort: port })
  const pubs = Array.from({ length: PUBLISHERS }, (_, i) => new Publisher(i, port))
  try {
    for (let round = 0; round < 4; round++) {
      const before = pubs.reduce((n, p) => n + p.acked.size, 0)
      await waitFor(() => pubs.reduce((n, p) => n + p.acked.size, 0) >= before + 150 + Math.floor(Math.random() * 300), 30_000, 5, 'acknowledged publishes')
      await gw.kill('SIGKILL')
      gw = await startGateway(dir, toml, { waitPort: port })
    }
    await Promise.all(pubs.map((p) => p.stop()))
    await gw.kill('SIGKILL')
    const acked = pubs.map((p) => new Set(p.acked))
    const total = acked.reduce((n, s) => n + s.size, 0)
    assert.ok(total > 600, `expected a meaningful load, got ${total} acknowledged`)

    // Now the cloud comes up; subscribe before the gateway can drain into it.
    const mosq = await startMosquitto({ port: upstream })
    const received: Array<{ p: number; seq: number }> = []
    const sub = await mqtt.connectAsync({ host: '127.0.0.1', port: upstream, clientId: 'cloud-subscriber', protocolVersion: 4 })
    sub.on('message', (_t, payload) => received.push(JSON.parse(payload.toString()) as { p: number; seq: number }))
    await sub.subscribeAsync('data/#', { qos: 1 })
    gw = await startGateway(dir, toml, { waitPort: port })
    try {
      const missing = (): number => {
        const got = new Set(received.map((r) => `${r.p}:${r.seq}`))
        return acked.reduce((n, set, p) => n + [...set].filter((seq) => !got.has(`${p}:${seq}`)).length, 0)
      }
      await waitFor(() => missing() === 0, 60_000, 100, 'every acknowledged message upstream').catch((err: unknown) => {
        throw new Error(`${String(err)}; ${missing()} of ${total} acknowledged messages missing, ${received.length} received\n${gw.log.join('').slice(-3000)}`)
      })
      for (let p = 0; p < PUBLISHERS; p++) {
        const seqs = received.filter((r) => r.p === p).map((r) => r.seq)
        const firsts: number[] = []
        const seen = new Set<number>()
        for (const s of seqs) {
          if (seen.has(s)) continue
          seen.add(s)
          firsts.push(s)
        }
        const ackedFirsts = firsts.filter((s) => acked[p]?.has(s))
        // With one publish in flight, acknowledged messages must arrive in publish order.
        assert.deepEqual(ackedFirsts, [...ackedFirsts].sort((a, b) => a - b), `publisher ${p} order`)
        const dups = seqs.length - firsts.length
        t.diagnostic(`publisher ${p}: ${acked[p]?.size ?? 0} acknowledged, ${firsts.length} distinct upstream, ${dups} duplicates`)
        assert.ok(dups <= WINDOW * 6, `publisher ${p}: ${dups} duplicates, more than the in-flight window allows across restarts`)
      }
    } finally {
      await sub.endAsync(true)
      await gw.kill('SIGTERM')
      await mosq.stop()
    }
  } finally {
    await Promise.all(pubs.map((p) => p.stop().catch(() => undefined)))
    await gw.kill('SIGKILL').catch(() => undefined)
    cleanup()
  }
})

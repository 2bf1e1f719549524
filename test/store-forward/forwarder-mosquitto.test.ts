import assert from 'node:assert/strict'
import { test } from 'node:test'
import mqtt, { type MqttClient } from 'mqtt'
import { silentLogger, type Message, type Sink } from '../../src/core/index.ts'
import { Forwarder, openStore } from '../../src/store-forward/index.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'

/** A minimal uplink on MQTT.js for this test (the real one is src/bridge's Uplink). */
class MqttSink implements Sink {
  online = false
  private readonly cbs = new Set<() => void>()
  readonly client: MqttClient

  constructor(url: string) {
    this.client = mqtt.connect(url, { clientId: 'fwd-sink', clean: true, reconnectPeriod: 200, connectTimeout: 2000 })
    this.client.on('connect', () => {
      this.online = true
      for (const cb of this.cbs) cb()
    })
    this.client.on('close', () => (this.online = false))
    this.client.on('error', () => undefined)
  }

  publish(m: Message): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.client.connected) return reject(new Error('uplink offline'))
      this.client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain }, (err) => (err ? reject(err) : resolve()))
    })
  }

  onOnline(cb: () => void): () => void {
    this.cbs.add(cb)
    return () => this.cbs.delete(cb)
  }
}

test('a backlog queued while the cloud broker is away drains to a real Mosquitto in order', { timeout: 40_000 }, async () => {
  const broker = await startMosquitto()
  const { dir, cleanup } = tempDir('fieldgate-fwd-')
  const store = await openStore(storeOptionsFor(dir, { groupCommitWindow: 2 }), silentLogger)
  const queue = await store.openQueue('cloud')
  const url = `mqtt://127.0.0.1:${broker.port}`
  const sub = mqtt.connect(url, { clientId: 'cloud-app', reconnectPeriod: 0 })
  const got: string[] = []
  sub.on('message', (_t, payload) => got.push(payload.toString()))
  await new Promise<void>((resolve, reject) => {
    sub.once('connect', () => sub.subscribe('plant/#', { qos: 1 }, (err) => (err ? reject(err) : resolve())))
    sub.once('error', reject)
  })

  // The uplink is not connected yet: everything accepted now is backlog on disk.
  const sink = { online: false, publish: () => Promise.reject(new Error('offline')), onOnline: () => () => undefined } satisfies Sink
  const offline = new Forwarder({ queue, sink, window: 16, logger: silentLogger })
  offline.start()
  const n = 2000
  await Promise.all(Array.from({ length: n }, (_, i) => offline.accept({ topic: `plant/line/${i % 7}`, payload: Buffer.from(String(i)), qos: 1, retain: false })))
  await offline.stop()
  assert.equal(queue.stats().depth, n)

  const real = new MqttSink(url)
  const fwd = new Forwarder({ queue, sink: real, window: 16, logger: silentLogger })
  fwd.start()
  await waitFor(() => got.length >= n && queue.stats().depth === 0, 30_000, 20, 'the backlog to reach the subscriber')
  assert.deepEqual(got, Array.from({ length: n }, (_, i) => String(i)))
  assert.equal(queue.stats().acked, n)
  assert.equal(fwd.status().health, 'ok')

  await fwd.stop()
  await new Promise<void>((r) => real.client.end(false, {}, () => r()))
  await new Promise<void>((r) => sub.end(false, {}, () => r()))
  await store.close()
  await broker.stop()
  cleanup()
})

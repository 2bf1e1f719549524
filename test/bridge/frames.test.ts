import assert from 'node:assert/strict'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { isFieldgateError } from '../../src/core/index.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { startUplink, waitOnline, watch } from './fixtures.ts'

// The frames' bytes come from core's encodePublish, checked against mqtt-packet in test/core/mqtt-wire.test.ts.

// Mosquitto forwards a QoS 2 message only at PUBREL, so only the QoS 0/1 order is observable upstream.
test('publishes of one turn keep their order across QoS 0 and 1 with QoS 2 (MQTT.js) in between, and all arrive', { timeout: 20_000 }, async () => {
  const mq = await startMosquitto()
  const w = await watch(mq.port, ['ord/#'])
  const u = startUplink({ name: 'ord', url: `mqtt://127.0.0.1:${mq.port}`, protocol_version: 4 })
  try {
    await waitOnline(u)
    const qos = [1, 1, 2, 0, 1, 2, 1] as const
    await Promise.all(qos.map((q, i) => u.publish({ topic: `ord/${i}`, payload: Buffer.from(String(i)), qos: q, retain: false })))
    await waitFor(() => w.got.length === qos.length, 5000, 10, 'all seven upstream')
    const upstream = w.got.map((g) => g.topic)
    assert.deepEqual([...upstream].sort(), qos.map((_, i) => `ord/${i}`).sort())
    const sent01 = qos.flatMap((q, i) => (q < 2 ? [`ord/${i}`] : []))
    assert.deepEqual(
      upstream.filter((t) => sent01.includes(t)),
      sent01,
    )
  } finally {
    await u.stop()
    await w.close()
    await mq.stop()
  }
})

// Mosquitto 2.0.11 (with max_inflight_messages 0) closes the connection after refusing: the uplink reconnects.
test('an MQTT 5 PUBACK with a refusing reason code rejects that publish; a later one succeeds', { timeout: 20_000 }, async () => {
  const tmp = tempDir('fieldgate-acl-')
  const acl = join(tmp.dir, 'acl')
  writeFileSync(acl, 'topic readwrite ok/#\ntopic readwrite gw/#\ntopic readwrite fieldgate/#\n')
  chmodSync(tmp.dir, 0o755) // Mosquitto started as root reads it as the "mosquitto" user
  chmodSync(acl, 0o644)
  const mq = await startMosquitto({ extra: [`acl_file ${acl}`] })
  const u = startUplink({ name: 'acl', url: `mqtt://127.0.0.1:${mq.port}`, protocol_version: 5, probe: { interval: 0 } })
  try {
    await waitOnline(u)
    await assert.rejects(
      u.publish({ topic: 'denied/x', payload: Buffer.from('no'), qos: 1, retain: false }),
      (err: unknown) => isFieldgateError(err, 'BRIDGE_OFFLINE') && /refused/.test(String((err as Error).message)),
    )
    const w = await watch(mq.port, ['ok/#'])
    await waitFor(
      () => u.publish({ topic: 'ok/x', payload: Buffer.from('yes'), qos: 1, retain: false }).then(() => true, () => false),
      10_000,
      200,
      'a permitted publish acknowledged',
    )
    await waitFor(() => w.got.some((g) => g.topic === 'ok/x'), 5000, 10, 'the permitted publish upstream')
    await w.close()
  } finally {
    await u.stop()
    await mq.stop()
    tmp.cleanup()
  }
})

test('a graceful stop lets QoS 1 publishes already sent get their PUBACK instead of failing them', { timeout: 20_000 }, async () => {
  const mq = await startMosquitto()
  const w = await watch(mq.port, ['stop/#'])
  const u = startUplink({ name: 'stopper', url: `mqtt://127.0.0.1:${mq.port}`, protocol_version: 4, will: { qos: 0 } })
  try {
    await waitOnline(u)
    const sent = Array.from({ length: 200 }, (_, i) => u.publish({ topic: `stop/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: false }))
    await u.stop() // in the same turn: stop writes the queued frames, then waits for their PUBACKs
    const results = await Promise.allSettled(sent)
    assert.deepEqual(
      results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
      [],
    )
    await waitFor(() => w.got.length === 200, 5000, 10, 'all 200 upstream')
  } finally {
    await u.stop()
    await w.close()
    await mq.stop()
  }
})

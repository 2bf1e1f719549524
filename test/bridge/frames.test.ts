import assert from 'node:assert/strict'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet'
import { encodePublish } from '../../src/bridge/frames.ts'
import { isFieldgateError, type PublishProperties } from '../../src/core/index.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { startUplink, waitOnline, watch } from './fixtures.ts'

function decode(frame: Buffer, protocolVersion: 4 | 5): IPublishPacket {
  const parser = mqttPacket.parser({ protocolVersion })
  const got: Packet[] = []
  const errors: Error[] = []
  parser.on('packet', (p: Packet) => got.push(p))
  parser.on('error', (e: Error) => errors.push(e))
  const left = parser.parse(frame)
  assert.deepEqual(errors, [])
  assert.equal(left, 0, 'the frame is consumed exactly')
  assert.equal(got.length, 1)
  const p = got[0] as Packet
  assert.equal(p.cmd, 'publish')
  return p as IPublishPacket
}

test('a pre-encoded 3.1.1 PUBLISH decodes to the same topic, payload, QoS, retain flag and packet id', () => {
  for (const [qos, retain, id, size] of [
    [0, false, 0, 0],
    [1, true, 1, 64],
    [1, false, 65535, 300],
    [1, false, 42, 200_000],
  ] as const) {
    const payload = Buffer.alloc(size, 7)
    const p = decode(encodePublish('plant/ü/temp', payload, qos, retain, id, null), 4)
    assert.equal(p.topic, 'plant/ü/temp')
    assert.equal(p.qos, qos)
    assert.equal(p.retain, retain)
    if (qos > 0) assert.equal(p.messageId, id)
    assert.ok(Buffer.from(p.payload).equals(payload), `payload of ${size} bytes intact`)
  }
})

test('a pre-encoded MQTT 5 PUBLISH carries every publish property, with or without any', () => {
  const props: PublishProperties = {
    payloadFormatIndicator: true,
    messageExpiryInterval: 3600,
    contentType: 'application/json',
    responseTopic: 'reply/here',
    correlationData: Buffer.from([1, 2, 3]),
    userProperties: { 'fg-id': 'abc', multi: ['x', 'y'] },
  }
  const p = decode(encodePublish('a/b', Buffer.from('{}'), 1, false, 9, props), 5)
  assert.equal(p.messageId, 9)
  assert.equal(p.payload.toString(), '{}')
  const got = p.properties ?? {}
  assert.equal(got.payloadFormatIndicator, true)
  assert.equal(got.messageExpiryInterval, 3600)
  assert.equal(got.contentType, 'application/json')
  assert.equal(got.responseTopic, 'reply/here')
  assert.deepEqual([...(got.correlationData ?? Buffer.alloc(0))], [1, 2, 3])
  assert.deepEqual({ ...got.userProperties }, { 'fg-id': 'abc', multi: ['x', 'y'] })
  const bare = decode(encodePublish('a/b', Buffer.from('x'), 0, true, 0, {}), 5)
  assert.equal(bare.retain, true)
  assert.equal(bare.payload.toString(), 'x')
})

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

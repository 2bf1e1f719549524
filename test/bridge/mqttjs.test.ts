import assert from 'node:assert/strict'
import { test } from 'node:test'
import { connectAsync, type Packet } from 'mqtt'
import { allocateId, corkForThisTurn, noDelay, pubrelSender, releaseId, writeFrames } from '../../src/bridge/mqttjs.ts'
import { encodePublish } from '../../src/core/index.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { waitFor } from '../helpers/tmp.ts'

// What src/bridge/mqttjs.ts says MQTT.js does, checked against the installed MQTT.js and Mosquitto,
// so that an MQTT.js upgrade that changes it fails here first.
test('MQTT.js lets the bridge write its own frames, settle their PUBACKs, cork the socket and send a bare PUBREL', { timeout: 20_000 }, async () => {
  const mq = await startMosquitto()
  const client = await connectAsync(`mqtt://127.0.0.1:${mq.port}`, { protocolVersion: 4, reconnectPeriod: 0, clientId: 'mqttjs-canary' })
  try {
    const received: Packet[] = []
    const errors: Error[] = []
    client.on('packetreceive', (p: Packet) => received.push(p))
    client.on('error', (e) => errors.push(e))
    const got: string[] = []
    client.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`))
    await client.subscribeAsync('canary/#', { qos: 1 })

    noDelay(client)
    const id = allocateId(client)
    assert.ok(typeof id === 'number' && id > 0)
    corkForThisTurn(client)
    const stream = client.stream as unknown as { writableCorked: number }
    assert.equal(stream.writableCorked, 1, 'corked for this turn')
    assert.equal(writeFrames(client, encodePublish('canary/raw', Buffer.from('x'), 1, false, false, id, false)), true)
    await new Promise((r) => setImmediate(r))
    assert.equal(stream.writableCorked, 0, 'uncorked on the next turn')
    await waitFor(() => received.some((p) => p.cmd === 'puback' && p.messageId === id), 5000, 10, 'PUBACK for our frame')
    await waitFor(() => got.includes('canary/raw=x'), 5000, 10, 'the frame delivered back')
    releaseId(client, id)

    const send = pubrelSender(client)
    assert.ok(send, '_sendPacket exists')
    send(4242) // the broker answers PUBCOMP for an id it holds nothing for [MQTT-4.3.3]
    await waitFor(() => received.some((p) => p.cmd === 'pubcomp' && p.messageId === 4242), 5000, 10, 'PUBCOMP for the bare PUBREL')

    assert.deepEqual(errors, [], 'MQTT.js ignored the acks for ids it does not track')
    assert.equal(client.connected, true)
  } finally {
    await client.endAsync(true)
    await mq.stop()
  }
  assert.equal(writeFrames(client, Buffer.from([0xc0, 0])), false, 'nothing is written on a closed connection')
})

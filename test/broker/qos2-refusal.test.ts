import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import mqttPacket, { type Packet } from 'mqtt-packet'
import { startBroker, type TestBroker } from './helpers.ts'

/**
 * One persistent-session connection that publishes QoS 2 id 7 and completes the flow when it gets a
 * positive PUBREC. Resolves with the packets it received once the socket closes (bounded).
 */
function publishQos2(tb: TestBroker, version: 4 | 5, dup: boolean): Promise<string[]> {
  return new Promise((resolve) => {
    const seen: string[] = []
    const s = connect(tb.port, '127.0.0.1')
    const p = mqttPacket.parser({ protocolVersion: version })
    const send = (pk: Packet): boolean => s.write(mqttPacket.generate(pk, { protocolVersion: version }))
    p.on('packet', (pk: Packet) => {
      const rc = 'reasonCode' in pk && typeof pk.reasonCode === 'number' ? pk.reasonCode : 0
      seen.push(rc >= 0x80 ? `${pk.cmd}:0x${rc.toString(16)}` : pk.cmd)
      if (pk.cmd === 'connack') send({ cmd: 'publish', topic: 'up/x', payload: Buffer.from('m1'), qos: 2, messageId: 7, dup, retain: false })
      if (pk.cmd === 'pubrec' && rc < 0x80) send({ cmd: 'pubrel', messageId: 7 })
      if (pk.cmd === 'pubcomp' || (pk.cmd === 'pubrec' && rc >= 0x80)) s.end()
    })
    s.on('data', (d) => p.parse(d))
    s.on('error', () => undefined)
    const timer = setTimeout(() => s.destroy(), 3000)
    s.on('close', () => {
      clearTimeout(timer)
      resolve(seen)
    })
    send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: false,
      clientId: `qos2-refused-v${version}`,
      keepalive: 30,
      ...(version === 5 ? { properties: { sessionExpiryInterval: 300 } } : {}),
    })
  })
}

for (const version of [4, 5] as const) {
  test(`a QoS 2 publish an in-process subscriber refused is routed again when the client resends it (v${version === 4 ? '3.1.1' : '5'})`, { timeout: 15_000 }, async () => {
    const tb = await startBroker()
    const payloads: string[] = []
    tb.broker.subscribe('up/#', async (m) => {
      payloads.push(m.payload.toString())
      if (payloads.length === 1) throw new Error('disk write failed')
    })
    try {
      const first = await publishQos2(tb, version, false)
      // 3.1.1 cannot refuse: the connection is closed so the client keeps the message; v5 gets PUBREC 0x80.
      assert.deepEqual(first, version === 5 ? ['connack', 'pubrec:0x80'] : ['connack'])
      const second = await publishQos2(tb, version, true)
      assert.deepEqual(second, ['connack', 'pubrec', 'pubcomp'])
      assert.deepEqual(payloads, ['m1', 'm1'], 'the resend reached the subscriber that refused the first copy')
    } finally {
      await tb.close()
    }
  })
}

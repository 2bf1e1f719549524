import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { test } from 'node:test'
import type { MqttClient } from 'mqtt'
import { Qos2Recovery } from '../../src/bridge/qos2.ts'

/** Just the MQTT.js surface Qos2Recovery touches: packet events and the packet writer. */
class FakeClient extends EventEmitter {
  sent: Array<{ cmd: string; messageId: number }> = []
  _sendPacket(p: { cmd: 'pubrel'; messageId: number }): void {
    this.sent.push(p)
  }
}

function asClient(c: FakeClient): MqttClient {
  return c as unknown as MqttClient
}

test('QoS 2 exchanges still open when the link drops are released with PUBREL on a resumed session', async () => {
  const r = new Qos2Recovery()
  const old = new FakeClient()
  r.watch(asClient(old))
  old.emit('packetsend', { cmd: 'publish', qos: 2, messageId: 7 })
  old.emit('packetsend', { cmd: 'publish', qos: 2, messageId: 8 })
  old.emit('packetsend', { cmd: 'publish', qos: 1, messageId: 9 })
  old.emit('packetreceive', { cmd: 'pubcomp', messageId: 7 })
  r.lost()
  assert.equal(r.pending, 1)
  const next = new FakeClient()
  r.watch(asClient(next))
  const done = r.recover(asClient(next), true, 1000)
  assert.deepEqual(next.sent, [{ cmd: 'pubrel', messageId: 8 }])
  next.emit('packetreceive', { cmd: 'pubcomp', messageId: 8 })
  assert.equal(await done, 1)
  assert.equal(r.pending, 0)
})

test('a new session holds nothing: open exchanges are forgotten without PUBREL', async () => {
  const r = new Qos2Recovery()
  const old = new FakeClient()
  r.watch(asClient(old))
  old.emit('packetsend', { cmd: 'publish', qos: 2, messageId: 3 })
  r.lost()
  const next = new FakeClient()
  assert.equal(await r.recover(asClient(next), false, 1000), 0)
  assert.equal(next.sent.length, 0)
  assert.equal(r.pending, 0)
})

test('a refused PUBREC ends the exchange, and releases that never complete time out', async () => {
  const r = new Qos2Recovery()
  const c = new FakeClient()
  r.watch(asClient(c))
  c.emit('packetsend', { cmd: 'publish', qos: 2, messageId: 1 })
  c.emit('packetsend', { cmd: 'publish', qos: 2, messageId: 2 })
  c.emit('packetreceive', { cmd: 'pubrec', messageId: 1, reasonCode: 0x87 })
  r.lost()
  assert.equal(r.pending, 1)
  await assert.rejects(r.recover(asClient(new FakeClient()), true, 30), /1 QoS 2 releases not completed/)
})

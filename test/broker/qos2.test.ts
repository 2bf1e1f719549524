import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryRetainedStore, MemorySessionStore } from '../../src/broker/index.ts'
import type { Message } from '../../src/core/types.ts'
import { waitFor } from '../helpers/tmp.ts'
import { rawSocket, sleep, startBroker } from './helpers.ts'

function str(s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function pkt(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, body.length]), body])
}

/** 3.1.1 CONNECT with clean session off (persistent). */
const connect = (id: string): Buffer => pkt(0x10, Buffer.concat([str('MQTT'), Buffer.from([4, 0x00, 0, 60]), str(id)]))
const subscribe = (topic: string, qos: number): Buffer => pkt(0x82, Buffer.concat([Buffer.from([0, 1]), str(topic), Buffer.from([qos])]))
const publish2 = (topic: string, payload: string, id: number, dup: boolean): Buffer =>
  pkt(0x34 | (dup ? 8 : 0), Buffer.concat([str(topic), Buffer.from([id >> 8, id & 0xff]), Buffer.from(payload)]))

test('a QoS 2 delivery interrupted after PUBREC resumes with PUBREL on reconnect', { timeout: 15_000 }, async () => {
  const tb = await startBroker()
  const a = await rawSocket(tb.port)
  a.socket.write(connect('q2-sub'))
  a.socket.write(subscribe('q2/t', 2))
  await waitFor(() => a.data().length >= 9, 3000, 10, 'CONNACK+SUBACK')
  await tb.broker.publish({ topic: 'q2/t', payload: Buffer.from('x'), qos: 2, retain: false })
  await waitFor(() => a.data().length > 9, 3000, 10, 'PUBLISH')
  const pub = a.data().subarray(9)
  assert.equal(pub[0], 0x34)
  const pid = pub.readUInt16BE(2 + 2 + 'q2/t'.length)
  a.socket.write(Buffer.from([0x50, 2, pid >> 8, pid & 0xff])) // PUBREC
  await waitFor(() => a.data().length >= 9 + pub.length + 4, 3000, 10, 'PUBREL')
  assert.deepEqual([...a.data().subarray(9 + pub.length, 9 + pub.length + 4)], [0x62, 2, pid >> 8, pid & 0xff])
  a.socket.destroy() // gone before PUBCOMP
  await a.closed
  await sleep(50)
  const b = await rawSocket(tb.port)
  b.socket.write(connect('q2-sub'))
  await waitFor(() => b.data().length >= 8, 3000, 10, 'CONNACK+PUBREL')
  assert.deepEqual([...b.data().subarray(0, 8)], [0x20, 2, 1, 0, 0x62, 2, pid >> 8, pid & 0xff])
  b.socket.write(Buffer.from([0x70, 2, pid >> 8, pid & 0xff])) // PUBCOMP
  await sleep(100)
  assert.equal(b.data().length, 8, 'nothing else owed')
  b.socket.destroy()
  await tb.close()
})

test('an inbound QoS 2 packet id survives a broker restart, so a resend is not delivered twice', { timeout: 15_000 }, async () => {
  const sessions = new MemorySessionStore()
  const retained = new MemoryRetainedStore()
  const got: Message[] = []
  const one = await startBroker({ sessions, retained })
  const off1 = one.broker.subscribe('q2in/t', (m) => void got.push(m))
  const a = await rawSocket(one.port)
  a.socket.write(connect('q2-pub'))
  a.socket.write(publish2('q2in/t', 'once', 11, false))
  await waitFor(() => a.data().length >= 8, 3000, 10, 'CONNACK+PUBREC')
  assert.deepEqual([...a.data().subarray(4, 8)], [0x50, 2, 0, 11])
  a.socket.destroy()
  await a.closed
  off1()
  await one.close()

  const two = await startBroker({ sessions, retained })
  const off2 = two.broker.subscribe('q2in/t', (m) => void got.push(m))
  const b = await rawSocket(two.port)
  b.socket.write(connect('q2-pub'))
  b.socket.write(publish2('q2in/t', 'once', 11, true))
  await waitFor(() => b.data().length >= 8, 3000, 10, 'CONNACK+PUBREC again')
  assert.deepEqual([...b.data().subarray(4, 8)], [0x50, 2, 0, 11])
  b.socket.write(Buffer.from([0x62, 2, 0, 11]))
  await waitFor(() => b.data().length >= 12, 3000, 10, 'PUBCOMP')
  assert.deepEqual([...b.data().subarray(8, 12)], [0x70, 2, 0, 11])
  assert.equal(got.length, 1)
  b.socket.destroy()
  off2()
  await two.close()
})

test('a QoS 2 resend on a new connection gets PUBREC only once the in-process subscriber has it', { timeout: 15_000 }, async () => {
  const tb = await startBroker()
  let release: () => void = () => undefined
  const gate = new Promise<void>((r) => (release = r))
  let calls = 0
  const off = tb.broker.subscribe('q2wait/t', () => {
    calls++
    return gate
  })
  const a = await rawSocket(tb.port)
  a.socket.write(connect('q2-wait'))
  a.socket.write(publish2('q2wait/t', 'slow', 21, false))
  await waitFor(() => a.data().length >= 4, 3000, 10, 'CONNACK')
  await sleep(100)
  assert.equal(a.data().length, 4, 'no PUBREC while the subscriber works')
  a.socket.destroy()
  await a.closed
  const b = await rawSocket(tb.port)
  b.socket.write(connect('q2-wait'))
  b.socket.write(publish2('q2wait/t', 'slow', 21, true))
  await waitFor(() => b.data().length >= 4, 3000, 10, 'CONNACK')
  await sleep(100)
  assert.equal(b.data().length, 4, 'still no PUBREC')
  release()
  await waitFor(() => b.data().length >= 8, 3000, 10, 'PUBREC')
  assert.deepEqual([...b.data().subarray(4, 8)], [0x50, 2, 0, 21])
  assert.equal(calls, 1)
  b.socket.destroy()
  off()
  await tb.close()
})

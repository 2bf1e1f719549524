import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'
import { connectBytes, publishBytes } from './wire-packets.ts'

/*
 * Bytes → packets on a live connection (src/broker/reader.ts): each packet is decoded from its own
 * bytes, whatever else arrives in the same write, and packets split at any byte arrive whole and in order.
 */

let tb: TestBroker
before(async () => {
  tb = await startBroker()
})
after(async () => {
  await tb.close()
})

const CONNACK_V5 = 0x20

/** Packet ids of the PUBACKs in what the broker sent (frames split by their Remaining Length). */
function pubackIds(bytes: Buffer): number[] {
  const ids: number[] = []
  let pos = 0
  while (pos + 1 < bytes.length) {
    let i = pos + 1
    let len = 0
    let mul = 1
    while (i < bytes.length) {
      const b = bytes[i++] as number
      len += (b & 0x7f) * mul
      mul *= 128
      if (b < 0x80) break
    }
    if (bytes[pos] === 0x40) ids.push(bytes.readUInt16BE(i))
    pos = i + len
  }
  return ids
}

for (const [name, after] of [
  ['a PINGREQ', Buffer.from([0xc0, 0])],
  ['a PUBLISH', publishBytes({ topic: 'rd/x', payload: 'late', qos: 0, v5: true })],
] as const) {
  test(`v5: DISCONNECT without a reason code followed by ${name} in the same write is a normal DISCONNECT (no will); the reason code was read from the next packet`, async () => {
    const watcher = await connectClient(tb.port, { protocolVersion: 5 })
    const got = collect(watcher)
    await watcher.subscribeAsync('rd/will', { qos: 1 })
    const r = await rawSocket(tb.port)
    r.socket.write(connectBytes({ clientId: `rd-${name.length}`, v5: true, will: { topic: 'rd/will', payload: 'gone', qos: 1 } }))
    await waitFor(() => r.data()[0] === CONNACK_V5, 5000, 5, 'CONNACK')
    r.socket.write(Buffer.concat([Buffer.from([0xe0, 0]), after]))
    await r.closed
    await sleep(200)
    assert.deepEqual(got, [], 'no will after DISCONNECT 0x00')
    await endClient(watcher)
  })
}

test('1,000 QoS 1 PUBLISHes of both levels written in pieces cut at every offset arrive whole, in order, each acknowledged', async () => {
  for (const v5 of [false, true]) {
    const sub = await connectClient(tb.port, { protocolVersion: v5 ? 5 : 4 })
    const got = collect(sub)
    await sub.subscribeAsync('rd/seq', { qos: 1 })
    const r = await rawSocket(tb.port)
    r.socket.write(connectBytes({ clientId: `rd-seq-${v5}`, v5 }))
    await waitFor(() => r.data().length >= 4, 5000, 5, 'CONNACK')
    const packets = Array.from({ length: 1000 }, (_, i) => publishBytes({ topic: 'rd/seq', payload: `m${i}`, qos: 1, id: i + 1, v5 }))
    const bytes = Buffer.concat(packets)
    // pieces of 1..37 bytes: splits land in headers, topics, packet ids and payloads
    for (let at = 0, n = 1; at < bytes.length; at += n, n = (n % 37) + 1) {
      r.socket.write(bytes.subarray(at, at + n))
      if (n === 37) await sleep(1)
    }
    await waitFor(() => got.length === 1000, 10_000, 10, 'all delivered')
    assert.deepEqual(got.map((m) => m.payload), packets.map((_, i) => `m${i}`))
    await waitFor(() => pubackIds(r.data()).length === 1000, 5000, 10, 'all PUBACKs')
    assert.deepEqual(pubackIds(r.data()), packets.map((_, i) => i + 1))
    r.socket.destroy()
    await endClient(sub)
  }
})

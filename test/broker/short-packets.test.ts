import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import { captureLogger } from '../helpers/logger.ts'
import { rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'
import { connectBytes, disconnectReason, frame, str } from './wire-packets.ts'

/*
 * Packets shorter (or longer) than their type allows. mqtt-packet read the missing packet identifier
 * from the next packet's bytes, or returned -1 when there were none (a RangeError when answering).
 * Each must now close the connection as malformed: warn level, DISCONNECT 0x81 in v5 (after CONNACK),
 * a plain close in 3.1.1, and nothing answered for it.
 */

const recorded = captureLogger()
const lines = recorded.lines

// a fake clock: moved past the log limiter's 10 s between cases so each case's line is written in full
const clock = new FakeClock(Date.now())
let tb: TestBroker
before(async () => {
  tb = await startBroker({ logger: recorded, clock })
})
after(async () => {
  await tb.close()
})

const PINGREQ = Buffer.from([0xc0, 0])

/** [name, first byte, body] of bad packets for both protocol levels unless marked. */
const CASES: Array<{ name: string; bytes: Buffer; only?: 4 | 5; protocolError?: true }> = [
  { name: 'PUBREL with remaining length 0', bytes: Buffer.from([0x62, 0]) },
  { name: 'PUBREL with remaining length 1', bytes: Buffer.from([0x62, 1, 7]) },
  { name: 'PUBREC with remaining length 0', bytes: Buffer.from([0x50, 0]) },
  { name: 'PUBREC with remaining length 1', bytes: Buffer.from([0x50, 1, 7]) },
  { name: 'PUBACK with remaining length 1', bytes: Buffer.from([0x40, 1, 7]) },
  { name: 'PUBCOMP with remaining length 0', bytes: Buffer.from([0x70, 0]) },
  { name: 'PUBREL with 3 bytes in 3.1.1', bytes: Buffer.from([0x62, 3, 0, 1, 0]), only: 4 },
  // no topic filter at all is a protocol error rather than malformed [MQTT-3.8.3-3]
  { name: 'SUBSCRIBE with only a packet id', bytes: frame(0x82, Buffer.from([0, 1])), only: 4, protocolError: true },
  { name: 'SUBSCRIBE whose filter has no options byte', bytes: frame(0x82, Buffer.concat([Buffer.from([0, 1]), str('a/b')])), only: 4 },
  { name: 'SUBSCRIBE with remaining length 1', bytes: Buffer.from([0x82, 1, 0]) },
  { name: 'UNSUBSCRIBE with remaining length 1', bytes: Buffer.from([0xa2, 1, 0]) },
  { name: 'UNSUBSCRIBE whose filter runs past the packet', bytes: frame(0xa2, Buffer.from([0, 1, 0, 9, 0x61])), only: 4 },
  { name: 'PUBLISH QoS 1 without room for its packet id', bytes: frame(0x32, str('t')) },
  { name: 'PUBLISH QoS 1 with half a packet id', bytes: frame(0x32, Buffer.concat([str('t'), Buffer.from([0])])) },
  { name: 'PINGREQ with a body', bytes: Buffer.from([0xc0, 1, 0]) },
  { name: 'DISCONNECT with a body in 3.1.1', bytes: Buffer.from([0xe0, 1, 0]), only: 4 },
  { name: 'PUBACK whose v5 property length runs past the packet', bytes: Buffer.from([0x40, 4, 0, 1, 0, 9]), only: 5 },
  { name: 'SUBSCRIBE whose v5 Subscription Identifier is cut short', bytes: frame(0x82, Buffer.from([0, 1, 2, 0x0b, 0x80])), only: 5 },
]

for (const v of [4, 5] as const) {
  for (const c of CASES) {
    if (c.only !== undefined && c.only !== v) continue
    for (const followed of [false, true]) {
      test(`${v === 5 ? 'v5' : '3.1.1'}: ${c.name}${followed ? ', followed by a PINGREQ in the same write,' : ''} closes the connection as malformed`, async () => {
        clock.advance(11_000)
        const before = lines.length
        const r = await rawSocket(tb.port)
        r.socket.write(connectBytes({ clientId: `short-${v}`, v5: v === 5 }))
        for (let i = 0; i < 200 && r.data().length < 4; i++) await sleep(5)
        const afterConnack = r.data().length
        r.socket.write(followed ? Buffer.concat([c.bytes, PINGREQ]) : c.bytes)
        await Promise.race([r.closed, sleep(3000)])
        assert.ok(r.socket.destroyed || r.socket.readableEnded, 'connection closed')
        const answer = r.data().subarray(afterConnack)
        if (v === 5) assert.equal(disconnectReason(answer), c.protocolError ? 0x82 : 0x81, 'DISCONNECT Malformed Packet / Protocol Error')
        else assert.equal(answer.length, 0, `3.1.1: closed without an answer, got ${answer.toString('hex')}`)
        const mine = lines.slice(before)
        assert.deepEqual(
          mine.filter((l) => l.level === 'error' || l.level === 'fatal'),
          [],
          'nothing at error level',
        )
        const kind = c.protocolError ? 'protocol error' : 'malformed packet'
        assert.equal(mine.filter((l) => l.level === 'warn' && l.msg.includes(kind)).length, 1, mine.map((l) => l.msg).join('\n'))
        r.socket.destroy()
      })
    }
  }
}

import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import type { Packet } from 'mqtt-packet'
import { decodeHot } from '../../src/broker/fast-path.ts'
import { decodePackets, type SharedParser } from '../../src/broker/parsers.ts'
import { readChunk, type ReaderOwner } from '../../src/broker/reader.ts'
import { afterConnectArb, connectArb, encode, mutate, mutationArb, publishArb, rawPropsPacketArb, type Level } from './mqtt-arbitraries.ts'
import { frame, publishBytes, str } from './wire-packets.ts'

/*
 * The fast path (fast-path.ts, reader.ts) against the reference: mqtt-packet with the wire check, as
 * `decodePackets` runs it on the whole byte string at once. Seeded like property.test.ts.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202)

type Outcome = { packets: Record<string, unknown>[]; error: { message: string; code: number; clientId?: string } | null }

/** A packet as a plain object (mqtt-packet's are instances of its Packet class). */
function plain(p: Packet): Record<string, unknown> {
  return { ...p }
}

function reference(bytes: Buffer, v: Level): Outcome {
  const { packets, error } = decodePackets(bytes, v)
  if (error === null) return { packets: packets.map(plain), error: null }
  const clientId = error.details.clientId
  return {
    packets: packets.map(plain),
    error: { message: error.message.replace(/^decoder threw: /, ''), code: error.details.reasonCode as number, ...(typeof clientId === 'string' ? { clientId } : {}) },
  }
}

/** Mirrors a connection: the level follows a CONNECT (as mqtt-packet's does), the first error closes it. */
class Recorder implements ReaderOwner {
  parser: SharedParser | null = null
  open = true
  readonly out: Outcome = { packets: [], error: null }
  constructor(public protocolVersion: number) {}
  isOpen(): boolean {
    return this.open
  }
  declared(): void {}
  onPacket(p: Packet): void {
    if (p.cmd === 'connect') this.protocolVersion = p.protocolVersion ?? 4
    this.out.packets.push(plain(p))
  }
  onParseError(message: string, code: number, clientId?: string): void {
    this.out.error = { message, code, ...(clientId === undefined ? {} : { clientId }) }
    this.open = false
  }
}

/**
 * The one designed difference: mqtt-packet keeps a CONNECT of level 0x83/0x84 ("bridge mode") as its
 * settings for the rest of what it parses at once, and then gives 3.1.1 subscriptions the options
 * nl, rap and rh 0. A connection decodes each packet at its own level, so it never did past the CONNECT's
 * own chunk; here those options are dropped on both sides.
 */
function withoutBridgeOptions(o: Outcome): Outcome {
  type Sub = { topic: string; qos: number; nl?: boolean; rap?: boolean; rh?: number }
  const strip = (s: Sub): Sub => (s.nl === true && s.rap === true && s.rh === 0 ? { topic: s.topic, qos: s.qos } : s)
  return { ...o, packets: o.packets.map((p) => (p.cmd === 'subscribe' ? { ...p, subscriptions: (p.subscriptions as Sub[]).map(strip) } : p)) }
}

/** Start of the body and the Remaining Length of the packet at the start of `bytes`, if both are there. */
function header(bytes: Buffer): { body: number; length: number } | null {
  let length = 0
  let mul = 1
  for (let i = 1; i < bytes.length && i < 5; i++) {
    const b = bytes[i] as number
    length += (b & 0x7f) * mul
    mul *= 128
    if (b < 0x80) return i + 1 + length <= bytes.length ? { body: i + 1, length } : null
  }
  return null
}

function viaReader(bytes: Buffer, v: Level, cuts: number[]): Outcome {
  const r = new Recorder(v)
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  let from = 0
  for (const to of [...at, bytes.length]) {
    if (to > from && r.isOpen()) readChunk(r, bytes.subarray(from, to))
    from = Math.max(from, to)
  }
  if (r.parser !== null) r.parser = null // a partial packet at the end: dropped, as at a close
  return r.out
}

const HOT = new Set(['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq'])
const level = fc.constantFrom(4 as Level, 5 as Level)
const id = fc.integer({ min: 1, max: 65535 })

/** Packets shaped for the fast path (no v5 properties, acknowledgements of exactly a packet id). */
function hotArb(v: Level): fc.Arbitrary<Buffer> {
  return fc.oneof(
    publishArb(v).map((p) => publishBytes({ topic: p.topic, payload: Buffer.from(p.payload).toString('latin1'), qos: p.qos, id: p.messageId ?? 1, v5: v === 5 })),
    publishArb(v).map((p) => encode({ ...p, dup: p.qos > 0 && p.retain, properties: undefined }, v) ?? Buffer.from([0xc0, 0])),
    fc.tuple(fc.constantFrom(0x40, 0x50, 0x62, 0x70), id).map(([first, n]) => Buffer.from([first, 2, n >> 8, n & 0xff])),
    fc.constant(Buffer.from([0xc0, 0])),
  )
}

/** One packet: hot, any after CONNECT, a CONNECT of either level, raw bytes; sometimes mutated. */
function oneArb(v: Level): fc.Arbitrary<Buffer> {
  const any = fc.oneof(
    { weight: 10, arbitrary: hotArb(v) },
    { weight: 3, arbitrary: afterConnectArb(v).map((p) => encode(p, v) ?? Buffer.alloc(0)) },
    { weight: 1, arbitrary: level.chain((l) => connectArb(l)).map((p) => encode(p, p.protocolVersion as Level) ?? Buffer.alloc(0)) },
    { weight: 1, arbitrary: rawPropsPacketArb },
    { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((a) => Buffer.from(a)) },
  )
  return fc.tuple(any, fc.array(mutationArb, { maxLength: 2 }), fc.integer({ min: 0, max: 7 })).map(([b, muts, keep]) => (keep === 0 && b.length > 0 ? muts.reduce((acc, m) => mutate(acc, m), b) : b))
}

const streamArb = level.chain((v) => fc.tuple(fc.constant(v), fc.array(oneArb(v), { minLength: 1, maxLength: 10 }), fc.array(fc.nat(), { maxLength: 8 })))

test('split at any chunk boundaries, valid and mutated packets of both levels decode through the fast path and mqtt-packet into exactly the packets and the first error of decodePackets', () => {
  let packets = 0
  let hot = 0
  let errors = 0
  fc.assert(
    fc.property(streamArb, ([v, parts, cuts]) => {
      const bytes = Buffer.concat(parts)
      const want = reference(bytes, v)
      const got = viaReader(bytes, v, cuts)
      // The one designed difference: mqtt-packet keeps a CONNECT of level 0x83/0x84 ("bridge mode") as its
      // settings for the rest of what it parses at once and then adds nl/rap/rh to 3.1.1 subscriptions. A
      // connection decodes each packet at its level and never did so past the CONNECT's own chunk.
      assert.deepEqual(withoutBridgeOptions(got), withoutBridgeOptions(want))
      packets += want.packets.length
      hot += want.packets.filter((p) => HOT.has(p.cmd as string) && p.properties === undefined).length
      if (want.error !== null) errors++
    }),
    { seed: SEED, numRuns: 4000 },
  )
  // both outcomes are reached, and most packets are of the kinds the fast path takes
  assert.ok(packets > 8000 && hot > 6000 && errors > 1000, `${packets} packets (${hot} hot), ${errors} errors`)
})

test('decodeHot takes only packets that the wire check and mqtt-packet decode, and decodes them identically', () => {
  const hits = new Map<string, number>()
  const one = level.chain((v) => fc.tuple(fc.constant(v), fc.oneof(hotArb(v), oneArb(v))))
  fc.assert(
    fc.property(one, ([v, bytes]) => {
      const h = header(bytes)
      if (h === null) return
      const p = decodeHot(bytes[0] as number, bytes, h.body, h.length, v === 5)
      if (p === null) return
      assert.deepEqual({ packets: [plain(p)], error: null }, reference(bytes.subarray(0, h.body + h.length), v))
      const key = `${p.cmd} v${v}`
      hits.set(key, (hits.get(key) ?? 0) + 1)
    }),
    { seed: SEED, numRuns: 6000 },
  )
  for (const cmd of ['publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'pingreq']) {
    for (const v of [4, 5]) assert.ok((hits.get(`${cmd} v${v}`) ?? 0) > 20, `${cmd} v${v} decoded ${hits.get(`${cmd} v${v}`) ?? 0} times`)
  }
})

test('the fast path leaves malformed hot packets to the wire check: same reason and code', () => {
  const cases: Array<[string, Level, Buffer]> = [
    ['PUBLISH topic past the end', 4, frame(0x30, Buffer.from([0, 9, 0x61]))],
    ['PUBLISH QoS 1 without packet id', 4, frame(0x32, str('t'))],
    ['PUBLISH QoS 3', 4, frame(0x36, str('t'))],
    ['v5 PUBLISH without property length', 5, frame(0x30, str('t'))],
    ['v5 PUBLISH with a property past the end', 5, frame(0x30, Buffer.concat([str('t'), Buffer.from([3, 0x03, 0x00, 0xff])]))],
    ['PUBACK with 3 bytes in 3.1.1', 4, Buffer.from([0x40, 3, 0, 1, 0])],
    ['PUBREL with wrong header flags', 4, Buffer.from([0x60, 2, 0, 1])],
    ['PINGREQ with a body', 4, Buffer.from([0xc0, 1, 0])],
  ]
  for (const [name, v, bytes] of cases) {
    const want = reference(bytes, v)
    assert.ok(want.error !== null, `${name}: the reference refuses it`)
    const fast = decodeHot(bytes[0] as number, bytes, 2, (bytes[1] as number) & 0x7f, v === 5)
    assert.equal(fast, null, `${name}: not taken by the fast path`)
    // behind a good QoS 1 PUBLISH, split anywhere in the bad packet: the PUBLISH, then the same refusal
    const good = publishBytes({ topic: 'ok', payload: 'x', qos: 1, id: 7, v5: v === 5 })
    const whole = Buffer.concat([good, bytes])
    for (let cut = good.length; cut <= whole.length; cut++) {
      const got = viaReader(whole, v, [cut])
      assert.deepEqual(got, reference(whole, v), `${name}, cut at ${cut}`)
      assert.equal(got.packets.length, 1)
      assert.deepEqual(got.error, want.error)
    }
  }
})

test('decodePackets reads a v5 DISCONNECT or AUTH from its own bytes only: what follows it does not change it', () => {
  const ping = Buffer.from([0xc0, 0])
  const pub = publishBytes({ topic: 'a', payload: 'b', qos: 0, v5: true })
  for (const packet of [Buffer.from([0xe0, 0]), Buffer.from([0xe0, 1, 0x04]), Buffer.from([0xe0, 2, 0x00, 0x00]), Buffer.from([0xf0, 0]), Buffer.from([0xf0, 1, 0x18])]) {
    const alone = reference(packet, 5)
    for (const next of [ping, pub, Buffer.from([0x04])]) {
      const both = reference(Buffer.concat([packet, next]), 5)
      assert.deepEqual(both.packets.slice(0, alone.packets.length), alone.packets, `${packet.toString('hex')} + ${next.toString('hex')}`)
      if (alone.error !== null) assert.deepEqual(both.error, alone.error)
    }
  }
})

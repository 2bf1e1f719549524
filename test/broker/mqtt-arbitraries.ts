/**
 * fast-check generators of MQTT client packets (both protocol levels), well formed and mutated, shared
 * by the property tests (test/broker/property.test.ts) and the long run (bench/fuzz.ts).
 */
import fc from 'fast-check'
import { generate, type IConnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet'
import { connectBytes, varInt } from './wire-packets.ts'

export type Level = 4 | 5

const topicArb = fc.oneof(
  fc.constantFrom('fz/a', 'fz/b/c', 'fz/q2', 'fz/ü/€', 'fz/will', '$SYS/x', 'a'),
  fc.string({ minLength: 1, maxLength: 12 }),
)
const filterArb = fc.oneof(fc.constantFrom('fz/#', 'fz/+', '#', '$share/g/fz/+', 'fz/a', '+/+/#'), fc.string({ minLength: 1, maxLength: 10 }))
const shortString = fc.string({ maxLength: 12 })
const userProps = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), fc.oneof(shortString, fc.array(shortString, { minLength: 1, maxLength: 3 })), { maxKeys: 3 })
const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a))
const packetId = fc.integer({ min: 1, max: 65535 })

/** End-to-end properties of a PUBLISH or a will, as MQTT.js or a device would send them. */
const publishPropsArb = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: fc.integer({ min: 0, max: 0xffffffff }),
    contentType: shortString,
    responseTopic: topicArb,
    correlationData: bytes(16),
    userProperties: userProps,
  },
  { requiredKeys: [] },
)

function willArb(v: Level): fc.Arbitrary<NonNullable<IConnectPacket['will']>> {
  return fc.record({
    topic: topicArb,
    payload: bytes(32),
    qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
    retain: fc.boolean(),
    ...(v === 5 ? { properties: publishPropsArb.chain((p) => fc.record({ willDelayInterval: fc.integer({ min: 0, max: 5 }) }, { requiredKeys: [] }).map((w) => ({ ...p, ...w }))) } : {}),
  })
}

export function connectArb(v: Level, clientIds: fc.Arbitrary<string> = fc.string({ maxLength: 10 })): fc.Arbitrary<IConnectPacket> {
  return fc.record(
    {
      clientId: clientIds,
      clean: fc.boolean(),
      keepalive: fc.integer({ min: 0, max: 120 }),
      will: willArb(v),
      username: shortString,
      ...(v === 5
        ? {
            properties: fc.record(
              {
                sessionExpiryInterval: fc.integer({ min: 0, max: 600 }),
                receiveMaximum: fc.integer({ min: 1, max: 100 }),
                maximumPacketSize: fc.integer({ min: 20, max: 100_000 }),
                topicAliasMaximum: fc.integer({ min: 0, max: 10 }),
                requestProblemInformation: fc.boolean(),
                userProperties: userProps,
              },
              { requiredKeys: [] },
            ),
          }
        : {}),
    },
    { requiredKeys: ['clientId', 'clean', 'keepalive'] },
  ).map((p) => ({ cmd: 'connect' as const, protocolId: 'MQTT', protocolVersion: v, ...p }))
}

export function publishArb(v: Level): fc.Arbitrary<IPublishPacket> {
  return fc
    .record({
      topic: topicArb,
      payload: bytes(64),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      retain: fc.boolean(),
      messageId: packetId,
      props: v === 5 ? fc.option(publishPropsArb.chain((p) => fc.option(fc.integer({ min: 1, max: 70 })).map((alias) => (alias === null ? p : { ...p, topicAlias: alias })))) : fc.constant(null),
    })
    .map(({ props, messageId, ...rest }) => {
      const p: IPublishPacket = { cmd: 'publish', dup: false, ...rest }
      if (rest.qos > 0) p.messageId = messageId
      if (props !== null) p.properties = props
      return p
    })
}

/** Any packet a client sends after CONNECT. */
export function afterConnectArb(v: Level): fc.Arbitrary<Packet> {
  const ack = (cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'): fc.Arbitrary<Packet> =>
    fc.record({ messageId: packetId, reasonCode: v === 5 ? fc.constantFrom(0, 0x10, 0x80, 0x92) : fc.constant(undefined) }).map(({ messageId, reasonCode }) => {
      const p = { cmd, messageId } as Packet & { reasonCode?: number }
      if (reasonCode !== undefined && reasonCode !== 0) p.reasonCode = cmd === 'pubrel' || cmd === 'pubcomp' ? 0x92 : reasonCode
      return p
    })
  return fc.oneof(
    { weight: 5, arbitrary: publishArb(v) as fc.Arbitrary<Packet> },
    ack('puback'),
    ack('pubrec'),
    ack('pubrel'),
    ack('pubcomp'),
    fc
      .record({
        messageId: packetId,
        subscriptions: fc.array(
          fc.record({ topic: filterArb, qos: fc.constantFrom(0 as const, 1 as const, 2 as const), nl: fc.boolean(), rap: fc.boolean(), rh: fc.constantFrom(0, 1, 2) }),
          { minLength: 1, maxLength: 3 },
        ),
        id: v === 5 ? fc.option(fc.integer({ min: 1, max: 1000 })) : fc.constant(null),
      })
      .map(({ messageId, subscriptions, id }) => {
        const subs = v === 5 ? subscriptions : subscriptions.map(({ topic, qos }) => ({ topic, qos }))
        return { cmd: 'subscribe', messageId, subscriptions: subs, ...(id === null ? {} : { properties: { subscriptionIdentifier: id } }) } as Packet
      }),
    fc.record({ messageId: packetId, unsubscriptions: fc.array(filterArb, { minLength: 1, maxLength: 3 }) }).map((u) => ({ cmd: 'unsubscribe', ...u }) as Packet),
    fc.constant({ cmd: 'pingreq' } as Packet),
  )
}

/** Raw v5 property bytes that are wrong in a way mqtt-packet did not catch (and some that are fine). */
export const nastyProps: fc.Arbitrary<number[]> = fc.constantFrom(
  [0x03, 0x00, 0xff], // Content Type declaring 255 bytes with none
  [0x08, 0x00, 0x05, 0x61], // Response Topic short
  [0x26, 0x00, 0x01, 0x61], // User Property without a value
  [0x26, 0x00, 0x00, 0x00, 0x00], // empty User Property (valid)
  [0x0b, 0x80, 0x80, 0x80, 0x80], // variable byte integer of 5 bytes
  [0x0b, 0x00], // Subscription Identifier 0
  [0x02, 0x00, 0x00], // Message Expiry cut short
  [0x09, 0xff, 0xff], // Correlation Data past the end
  [0x01, 0x02], // Payload Format Indicator 2
  [0x01, 0x00, 0x01, 0x00], // duplicate
  [0x03, 0x00, 0x00, 0x03, 0x00, 0x00], // duplicate Content Type
  [0x7f], // unknown identifier
  [0x03, 0x00, 0x02, 0xc3, 0x28], // invalid UTF-8
  [0x03, 0x00, 0x01, 0x00], // U+0000
  [0x23, 0x00, 0x00], // Topic Alias 0
  [0x11, 0x00, 0x00, 0x00, 0x0a], // Session Expiry (valid in CONNECT only)
  [0x24, 0x01], // Maximum QoS (server only)
  [],
)

/** Rebuilds the fixed header's Remaining Length for a new body. */
function reframe(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varInt(body.length), body])
}

/** Header length (fixed byte + Remaining Length bytes) of a generated packet. */
function headerLength(buf: Buffer): number {
  let i = 1
  while (i < buf.length && i < 5 && ((buf[i] as number) & 0x80) !== 0) i++
  return i + 1
}

export type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; raw: number[] }
  | { kind: 'props'; at: number; raw: number[] }
  | { kind: 'length'; delta: number }

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), raw: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('props' as const), at: fc.nat(), raw: nastyProps }),
  fc.record({ kind: fc.constant('length' as const), delta: fc.integer({ min: -3, max: 3 }) }),
)

/** Applies one mutation to a whole packet; 'insert' and 'props' keep the Remaining Length consistent. */
export function mutate(pkt: Buffer, m: Mutation): Buffer {
  const h = headerLength(pkt)
  const first = pkt[0] as number
  const body = pkt.subarray(h)
  switch (m.kind) {
    case 'flip': {
      const out = Buffer.from(pkt)
      out[m.at % out.length] = m.value
      return out
    }
    case 'truncate':
      return pkt.subarray(0, m.at % (pkt.length + 1))
    case 'insert':
    case 'props': {
      const at = body.length === 0 ? 0 : m.at % (body.length + 1)
      // 'props' inserts a property with a fixed-up property length when it lands on one; otherwise raw bytes
      return reframe(first, Buffer.concat([body.subarray(0, at), Buffer.from(m.raw), body.subarray(at)]))
    }
    case 'length': {
      const len = Math.max(0, body.length + m.delta)
      return Buffer.concat([Buffer.from([first]), varInt(len), body])
    }
  }
}

/** Encodes a packet object; null when mqtt-packet refuses to build it (the generator made an impossible combination). */
export function encode(p: Packet, v: Level): Buffer | null {
  try {
    return generate(p, { protocolVersion: v })
  } catch {
    return null
  }
}

/** A PUBLISH (v5) with `raw` as its whole property section. */
export function publishWithRawProps(topic: string, qos: 0 | 1 | 2, id: number, raw: number[], payload = 'p'): Buffer {
  const t = Buffer.from(topic)
  const parts: Buffer[] = [Buffer.from([t.length >> 8, t.length & 0xff]), t]
  if (qos > 0) parts.push(Buffer.from([id >> 8, id & 0xff]))
  parts.push(varInt(raw.length), Buffer.from(raw), Buffer.from(payload))
  return reframe(0x30 | (qos << 1), Buffer.concat(parts))
}

/** A last property that declares more bytes than are left: the class of the Content Type crash. */
export const pastEndProp: fc.Arbitrary<number[]> = fc.constantFrom(
  [0x03, 0x00, 0xff],
  [0x08, 0x7f, 0x00, 0x61],
  [0x09, 0xff, 0xff],
  [0x26, 0x00, 0x01, 0x61, 0xff, 0xff],
  [0x26, 0xff, 0x00],
  [0x02, 0x00, 0x00],
)

/** v5 packets whose property section is made of raw (mostly wrong) property bytes: PUBLISH, will, PUBACK. */
export const rawPropsPacketArb: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.constantFrom('publish' as const, 'will' as const, 'puback' as const),
    fc.array(nastyProps, { maxLength: 1 }),
    fc.option(pastEndProp, { freq: 4 }),
    fc.constantFrom(0 as const, 1 as const, 2 as const),
  )
  .map(([kind, parts, tail, qos]) => {
    const raw = [...parts.flat(), ...(tail ?? [])]
    if (kind === 'publish') return publishWithRawProps('fz/raw', qos, 1, raw)
    if (kind === 'will') return connectBytes({ clientId: 'raw', v5: true, will: { topic: 'fz/will', payload: 'w', qos, props: raw } })
    return reframe(0x40, Buffer.concat([Buffer.from([0, 1, 0]), varInt(raw.length), Buffer.from(raw)]))
  })

export type Op = { kind: 'bytes'; bytes: Buffer } | { kind: 'yield' }
export interface SessionSpec {
  v: Level
  connect: Buffer
  ops: Op[]
  /** how the session ends: DISCONNECT (no will), DISCONNECT 0x04 (v5: with will), or a dropped socket (will) */
  end: 'disconnect' | 'disconnect-with-will' | 'drop'
}

const CLIENT_POOL = fc.constantFrom('c1', 'c2', 'c3', 'c4') // few ids: sessions take each other over

function opArb(v: Level): fc.Arbitrary<Op> {
  const packet = afterConnectArb(v).map((p) => encode(p, v))
  return fc.oneof(
    { weight: 6, arbitrary: packet.map((b): Op => (b === null ? { kind: 'yield' } : { kind: 'bytes', bytes: b })) },
    // a whole QoS 2 flow: PUBLISH then PUBREL for the same id
    {
      weight: 2,
      arbitrary: fc.tuple(publishArb(v), fc.integer({ min: 1, max: 65535 })).map(([p, id]): Op => {
        const pub = encode({ ...p, qos: 2, messageId: id }, v)
        const rel = encode({ cmd: 'pubrel', messageId: id }, v)
        return pub === null || rel === null ? { kind: 'yield' } : { kind: 'bytes', bytes: Buffer.concat([pub, rel]) }
      }),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(packet, mutationArb).map(([b, m]): Op => (b === null ? { kind: 'yield' } : { kind: 'bytes', bytes: mutate(b, m) })),
    },
    ...(v === 5 ? [{ weight: 2, arbitrary: rawPropsPacketArb.filter((b) => b[0] !== 0x10).map((bytes): Op => ({ kind: 'bytes', bytes })) }] : []),
    { weight: 1, arbitrary: fc.constant<Op>({ kind: 'yield' }) },
  )
}

export const sessionSpecArb: fc.Arbitrary<SessionSpec> = fc.constantFrom(4 as Level, 5 as Level).chain((v) =>
  fc.record({
    v: fc.constant(v),
    connect: fc.oneof(
      { weight: 8, arbitrary: connectArb(v, CLIENT_POOL).map((p) => encode(p, v)) },
      { weight: 1, arbitrary: fc.tuple(connectArb(v, CLIENT_POOL), mutationArb).map(([p, m]) => {
        const b = encode(p, v)
        return b === null ? null : mutate(b, m)
      }) },
      ...(v === 5 ? [{ weight: 4, arbitrary: rawPropsPacketArb.filter((b) => b[0] === 0x10) }] : []),
    ).map((b) => b ?? connectBytes({ clientId: 'c1', v5: v === 5 })),
    ops: fc.array(opArb(v), { maxLength: 12 }),
    end: fc.constantFrom('disconnect' as const, 'disconnect-with-will' as const, 'drop' as const),
  }),
)

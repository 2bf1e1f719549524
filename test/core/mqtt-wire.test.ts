import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import mqttPacket, { generate, type IPublishPacket, type Packet } from 'mqtt-packet'
import type { PublishProperties } from '../../src/core/index.ts'
import { VARINT_MAX, encodePublish, packetSize, stripShare, topicMatches, varintSize, wildcardsInPlace, writeVarint, type PublishWireProperties } from '../../src/core/mqtt-wire/index.ts'
import { filterFrom, narrowFilter, narrowTopic, referenceMatches, shareName, wideTopic } from '../helpers/topic-filters.ts'

/* Seeded like test/broker/property.test.ts; FUZZ_SEED overrides, fast-check prints seed and counterexample. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261206)

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
    const p = decode(encodePublish('plant/ü/temp', payload, qos, retain, false, id, false), 4)
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
  const p = decode(encodePublish('a/b', Buffer.from('{}'), 1, false, false, 9, true, props), 5)
  assert.equal(p.messageId, 9)
  assert.equal(p.payload.toString(), '{}')
  const got = p.properties ?? {}
  assert.equal(got.payloadFormatIndicator, true)
  assert.equal(got.messageExpiryInterval, 3600)
  assert.equal(got.contentType, 'application/json')
  assert.equal(got.responseTopic, 'reply/here')
  assert.deepEqual([...(got.correlationData ?? Buffer.alloc(0))], [1, 2, 3])
  assert.deepEqual({ ...got.userProperties }, { 'fg-id': 'abc', multi: ['x', 'y'] })
  const bare = decode(encodePublish('a/b', Buffer.from('x'), 0, true, false, 0, true, {}), 5)
  assert.equal(bare.retain, true)
  assert.equal(bare.payload.toString(), 'x')
})

const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a))
const text = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('', 'ü€', '\uD800'))
const subscriptionId = fc.integer({ min: 1, max: VARINT_MAX })

/** Every PUBLISH property [MQTT-3.3.2.3], each present or not. Lists are never empty: see the test below. */
const propsArb: fc.Arbitrary<PublishWireProperties> = fc.record(
  {
    payloadFormatIndicator: fc.boolean(),
    messageExpiryInterval: fc.integer({ min: 0, max: 0xffffffff }),
    contentType: text,
    responseTopic: text,
    correlationData: bytes(20),
    userProperties: fc.dictionary(text, fc.oneof(text, fc.array(text, { minLength: 1, maxLength: 3 })), { minKeys: 1, maxKeys: 3 }),
    subscriptionIdentifier: fc.oneof(subscriptionId, fc.array(subscriptionId, { minLength: 1, maxLength: 3 })),
    topicAlias: fc.integer({ min: 1, max: 0xffff }),
  },
  { requiredKeys: [] },
)

const ORDER = ['payloadFormatIndicator', 'messageExpiryInterval', 'contentType', 'responseTopic', 'correlationData', 'userProperties', 'subscriptionIdentifier', 'topicAlias'] as const

/** The same properties with the keys in the encoder's order: generate() writes them in key order. */
function inEncoderOrder(p: PublishWireProperties): PublishWireProperties {
  const out: Record<string, unknown> = {}
  for (const k of ORDER) if (p[k] !== undefined) out[k] = p[k]
  return out as PublishWireProperties
}

const publishArb = fc.record({
  v: fc.constantFrom(4 as const, 5 as const),
  topic: fc.oneof(wideTopic, fc.constantFrom('', 'plant/ü/temp'), fc.string({ unit: 'binary', maxLength: 40 })),
  // sizes around the Remaining Length's 1-, 2- and 3-byte boundaries [MQTT-1.5.5]
  payload: fc.oneof({ weight: 8, arbitrary: bytes(300) }, { weight: 1, arbitrary: fc.constantFrom(118, 119, 120, 16_370, 16_380, 70_000).map((n) => Buffer.alloc(n, 0xa5)) }),
  qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
  retain: fc.boolean(),
  dup: fc.boolean(),
  messageId: fc.integer({ min: 1, max: 0xffff }),
  props: fc.option(propsArb, { nil: undefined }),
})

test('encodePublish writes the same bytes as mqtt-packet generate() for any PUBLISH of 3.1.1 and 5.0, properties included', () => {
  let withProps = 0
  fc.assert(
    fc.property(publishArb, ({ v, topic, payload, qos, retain, dup, messageId, props }) => {
      const id = qos > 0 ? messageId : 0
      const ours = encodePublish(topic, payload, qos, retain, dup, id, v === 5, props)
      const packet: IPublishPacket = { cmd: 'publish', topic, payload, qos, retain, dup }
      if (qos > 0) packet.messageId = id
      if (v === 5 && props !== undefined) {
        packet.properties = inEncoderOrder(props)
        withProps++
      }
      const theirs = generate(packet, { protocolVersion: v })
      assert.ok(ours.equals(theirs), `ours ${ours.subarray(0, 64).toString('hex')} vs generate ${theirs.subarray(0, 64).toString('hex')}`)
    }),
    { seed: SEED, numRuns: 3000 },
  )
  assert.ok(withProps > 500, `${withProps} packets with properties`)
})

test('a PUBLISH with a 4-byte Remaining Length agrees with generate() too', () => {
  const payload = Buffer.alloc(2_097_152, 1)
  const ours = encodePublish('big', payload, 1, false, false, 7, true, { topicAlias: 3 })
  assert.ok(ours.equals(generate({ cmd: 'publish', topic: 'big', payload, qos: 1, retain: false, dup: false, messageId: 7, properties: { topicAlias: 3 } }, { protocolVersion: 5 })))
  assert.deepEqual([...ours.subarray(1, 5)].map((b) => b >= 0x80), [true, true, true, false], 'four length bytes')
})

// mqtt-packet's generate() returns an empty Buffer for these (it writes nothing at all); we leave the empty list out.
test('empty user-property and subscription-identifier lists are left out of an otherwise complete PUBLISH', () => {
  for (const props of [{ userProperties: {} }, { userProperties: { k: [] } }, { subscriptionIdentifier: [] }, { contentType: 'c', userProperties: {} }] as PublishWireProperties[]) {
    const p = decode(encodePublish('a/b', Buffer.from('x'), 1, false, false, 5, true, props), 5)
    assert.equal(p.topic, 'a/b')
    assert.equal(p.messageId, 5)
    assert.equal(p.payload.toString(), 'x')
    assert.deepEqual(p.properties ?? {}, props.contentType === undefined ? {} : { contentType: 'c' })
  }
})

test('a Variable Byte Integer takes varintSize bytes, reads back as the same number, and sizes a whole packet', () => {
  const read = (b: Buffer): number => {
    let n = 0
    for (let i = 0, mul = 1; ; i++, mul *= 128) {
      const byte = b[i] as number
      n += (byte & 0x7f) * mul
      if ((byte & 0x80) === 0) return n
    }
  }
  const edges = fc.constantFrom(0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, VARINT_MAX)
  fc.assert(
    fc.property(fc.oneof(edges, fc.integer({ min: 0, max: VARINT_MAX })), (n) => {
      const b = Buffer.alloc(4)
      const end = writeVarint(b, 0, n)
      assert.equal(end, varintSize(n))
      assert.equal(read(b), n)
      assert.equal(packetSize(n), 1 + end + n)
    }),
    { seed: SEED, numRuns: 2000 },
  )
})

test('topicMatches agrees with the reference matcher on generated filters and topics, $-topics included', () => {
  const seen = { match: 0, miss: 0, dollar: 0 }
  const check = (filter: string, topic: string): void => {
    const want = referenceMatches(filter, topic)
    assert.equal(topicMatches(filter, topic), want, `${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`)
    seen[want ? 'match' : 'miss']++
    if (topic.startsWith('$')) seen.dollar++
  }
  fc.assert(fc.property(narrowFilter, narrowTopic, check), { seed: SEED, numRuns: 4000 })
  fc.assert(fc.property(wideTopic.chain((t) => fc.tuple(filterFrom(t), fc.constant(t))), ([f, t]) => check(f, t)), { seed: SEED, numRuns: 4000 })
  // both outcomes and the $ rule are exercised, not only one of them
  assert.ok(seen.match > 1000 && seen.miss > 1000 && seen.dollar > 500, JSON.stringify(seen))
})

test('a shared subscription matches as its filter once stripShare takes the $share/<group>/ prefix off', () => {
  fc.assert(
    fc.property(shareName, narrowFilter, narrowTopic, (group, filter, topic) => {
      assert.equal(stripShare(filter), filter)
      const shared = `$share/${group}/${filter}`
      assert.equal(stripShare(shared), filter)
      assert.equal(topicMatches(stripShare(shared), topic), referenceMatches(filter, topic))
    }),
    { seed: SEED, numRuns: 2000 },
  )
})

test('wildcardsInPlace accepts exactly the filters whose + fill a level and whose # is the whole last level', () => {
  // reference: levels of anything but / + #, or a lone +, and a lone # only at the end [MQTT-4.7.1-2, MQTT-4.7.1-3]
  const reference = /^(?:(?:[^/+#]*|\+)\/)*(?:[^/+#]*|\+|#)$/
  const chars = fc.array(fc.constantFrom('a', 'b', '/', '+', '#', '$', 'ü'), { maxLength: 8 }).map((c) => c.join(''))
  let valid = 0
  fc.assert(
    fc.property(fc.oneof(chars, narrowFilter), (f) => {
      const want = reference.test(f)
      assert.equal(wildcardsInPlace(f), want, JSON.stringify(f))
      if (want) valid++
    }),
    { seed: SEED, numRuns: 4000 },
  )
  assert.ok(valid > 1000 && valid < 3500, `${valid} of 4000 valid`)
  for (const f of ['a/#', '#', '+', '+/+', 'a/+/c', '/#', '']) assert.equal(wildcardsInPlace(f), true, f)
  for (const f of ['a/#/b', 'a#', 'a/b#', '+a', 'a/+b', '##', '#/']) assert.equal(wildcardsInPlace(f), false, f)
})

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import type { MqttClient } from 'mqtt'
import type { Packet } from 'mqtt-packet'
import { waitFor } from '../helpers/tmp.ts'
import { decodeAndReencode, playSession } from './fuzz-checks.ts'
import { collect, connectClient, endClient, startBroker, type TestBroker } from './helpers.ts'
import { afterConnectArb, connectArb, encode, mutate, mutationArb, rawPropsPacketArb, sessionSpecArb, type Level } from './mqtt-arbitraries.ts'

/*
 * Property tests, seeded and bounded (FUZZ_SEED overrides the seed; fast-check prints the seed and the
 * shrunk counterexample on failure). bench/fuzz.ts runs the same properties for much longer.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20261202)

const level = fc.constantFrom(4 as Level, 5 as Level)
/** A well-formed packet of either level, 0-3 mutations, maybe followed by another packet in the same bytes. */
const packetBytes = level.chain((v) =>
  fc
    .tuple(fc.oneof(connectArb(v) as fc.Arbitrary<Packet>, afterConnectArb(v)), fc.array(mutationArb, { maxLength: 3 }), fc.option(afterConnectArb(v)))
    .map(([p, muts, next]): [Level, Buffer | null] => {
      const b = encode(p, v)
      if (b === null) return [v, null]
      const mutated = muts.reduce((acc, m) => mutate(acc, m), b)
      const nb = next === null ? null : encode(next, v)
      return [v, nb === null ? mutated : Buffer.concat([mutated, nb])]
    }),
)

test('any bytes either decode into packets that re-encode without throwing or are refused with a coded 0x81/0x82 error', () => {
  fc.assert(
    fc.property(level, fc.uint8Array({ maxLength: 200 }), (v, raw) => {
      decodeAndReencode(Buffer.from(raw), v)
    }),
    { seed: SEED, numRuns: 3000 },
  )
})

test('well-formed packets of both levels, mutated, and v5 property sections made of wrong properties: decoded and re-encodable, or refused with a code', () => {
  let refused = 0
  let decoded = 0
  fc.assert(
    fc.property(packetBytes, ([v, bytes]) => {
      if (bytes === null) return
      const r = decodeAndReencode(bytes, v)
      if (r.refused === null) decoded++
      else refused++
    }),
    { seed: SEED, numRuns: 6000 },
  )
  fc.assert(
    fc.property(rawPropsPacketArb, (bytes) => {
      if (decodeAndReencode(bytes, 5).refused === null) decoded++
      else refused++
    }),
    { seed: SEED, numRuns: 1500 },
  )
  // the generators reach both outcomes (not only refusals)
  assert.ok(decoded > 1000 && refused > 1000, `decoded ${decoded}, refused ${refused}`)
})

let tb: TestBroker
let liveV5: MqttClient
const uncaught: unknown[] = []
const onUncaught = (err: unknown): void => {
  uncaught.push(err)
}
const OFFLINE = { protocolVersion: 5 as const, clientId: 'observer-offline', clean: false, properties: { sessionExpiryInterval: 3600 } }

before(async () => {
  process.on('uncaughtException', onUncaught)
  process.on('unhandledRejection', onUncaught)
  tb = await startBroker({ limits: { max_packet_size: 65536, connect_timeout: 1000 } })
  // every routed message is encoded for a live v5 subscriber and queued for an offline persistent v5 session
  liveV5 = await connectClient(tb.port, { protocolVersion: 5, clientId: 'observer-live' })
  await liveV5.subscribeAsync(['#', 'fz/#'], { qos: 2 })
  const off = await connectClient(tb.port, OFFLINE)
  await off.subscribeAsync('fz/#', { qos: 2 })
  await endClient(off)
})

after(async () => {
  await endClient(liveV5, true)
  await tb.close()
  process.off('uncaughtException', onUncaught)
  process.off('unhandledRejection', onUncaught)
})

async function qos1RoundTrip(protocolVersion: 4 | 5): Promise<void> {
  const c = await connectClient(tb.port, { protocolVersion, clientId: `rt-${protocolVersion}` })
  try {
    const got = collect(c)
    await c.subscribeAsync('rt/check', { qos: 1 })
    await c.publishAsync('rt/check', 'ok', { qos: 1 })
    await waitFor(() => got.length > 0, 5000, 5, `QoS 1 round trip (v${protocolVersion})`)
  } finally {
    await endClient(c, true)
  }
}

test('generated client sessions (take-overs, wills, QoS 2 flows, v5 properties, mutated packets) leave the broker serving a QoS 1 round trip, with nothing thrown', { timeout: 120_000 }, async () => {
  let runs = 0
  await fc.assert(
    fc.asyncProperty(fc.array(sessionSpecArb, { minLength: 1, maxLength: 4 }), async (specs) => {
      runs++
      const seen = uncaught.length
      await Promise.all(specs.map((s) => playSession(tb.port, s)))
      // the offline persistent session comes back: its queue (wills included) is replayed to it
      const back = await connectClient(tb.port, OFFLINE)
      await endClient(back, true)
      await qos1RoundTrip(runs % 2 === 0 ? 4 : 5)
      assert.deepEqual(uncaught.slice(seen).map(String), [])
      assert.equal(liveV5.connected, true, 'the live v5 observer is still connected')
    }),
    { seed: SEED, numRuns: 60, interruptAfterTimeLimit: 90_000 },
  )
  assert.ok(runs >= 20, `only ${runs} runs in the time limit`)
  const st = tb.broker.status().details as { messages: { dropped: number } }
  assert.equal(st.messages.dropped, 0, 'nothing malformed got far enough to be dropped')
})

test('found by bench/fuzz.ts (seed 20261202, case 54716): a 3.1.1 CONNECT with will QoS 3 is refused as malformed by the wire check', () => {
  // flags 0x7e: will, will QoS 3, will retain, password, clean session [MQTT-3.1.2-14]
  const b = Buffer.from([16, 40, 0, 4, 77, 81, 84, 84, 4, 126, 0, 0, 0, 2, 32, 32, 0, 6, 36, 83, 89, 83, 47, 120, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 32, 32, 32, 32, 32, 32])
  assert.deepEqual(decodeAndReencode(b, 4), { packets: 0, refused: 0x81 })
})

test('found by bench/fuzz.ts (seed 20261202, case 100824): a SUBACK from a 3.1.1 client is refused before mqtt-packet reads its packet id from the next bytes', () => {
  assert.deepEqual(decodeAndReencode(Buffer.from([0x90, 1, 0, 0]), 4), { packets: 0, refused: 0x82 })
})

/**
 * Long fuzz run of the broker's wire handling: the property tests of test/broker/property.test.ts
 * with many more cases. `node --import tsx bench/fuzz.ts [--cases 200000] [--sessions 2000] [--seed N]`
 * or `npm run bench -- fuzz --cases 50000`.
 *
 * 1. Codec: arbitrary bytes, mutated packets of both levels and v5 property sections made of wrong
 *    properties are decoded as a connection does; each must decode into packets that re-encode, or be
 *    refused with a coded 0x81/0x82 error.
 * 2. End to end: generated client sessions (take-overs, wills, QoS 2 flows, v5 properties, mutated
 *    packets) against Fieldgate's broker in its own process, with a live v5 subscriber to '#' and an
 *    offline persistent v5 session that comes back after each run; after each run a QoS 1 round trip
 *    must work and the process must be alive. Prints the seed; a failure prints the shrunk case.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import mqtt, { type MqttClient } from 'mqtt'
import { decodeAndReencode, playSession } from '../test/broker/fuzz-checks.ts'
import { afterConnectArb, connectArb, encode, mutate, mutationArb, rawPropsPacketArb, sessionSpecArb, type Level } from '../test/broker/mqtt-arbitraries.ts'
import type { Packet } from 'mqtt-packet'
import { killLiveChildren, startBroker } from './lib/servers.ts'

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')

interface Options {
  cases: number
  sessions: number
  seed: number
}

function parse(argv: string[]): Options {
  const o: Options = { cases: 200_000, sessions: 2_000, seed: Date.now() % 2_147_483_647 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const n = Number(argv[i + 1])
    if (a === '--help' || a === '-h') {
      process.stdout.write('usage: bench/fuzz.ts [--cases N] [--sessions N] [--seed N]\n')
      process.exit(0)
    }
    if ((a === '--cases' || a === '--sessions' || a === '--seed') && Number.isInteger(n) && n >= 0) {
      o[a.slice(2) as keyof Options] = n
      i++
    } else throw new Error(`unknown or bad option "${a}" (see --help)`)
  }
  return o
}

const level = fc.constantFrom(4 as Level, 5 as Level)
const caseArb: fc.Arbitrary<[Level, Buffer | null]> = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(level, fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a))) },
  {
    weight: 6,
    arbitrary: level.chain((v) =>
      fc
        .tuple(fc.oneof(connectArb(v) as fc.Arbitrary<Packet>, afterConnectArb(v)), fc.array(mutationArb, { maxLength: 3 }), fc.option(afterConnectArb(v)))
        .map(([p, muts, next]): [Level, Buffer | null] => {
          const b = encode(p, v)
          if (b === null) return [v, null]
          const nb = next === null ? null : encode(next, v)
          const mutated = muts.reduce((acc, m) => mutate(acc, m), b)
          return [v, nb === null ? mutated : Buffer.concat([mutated, nb])]
        }),
    ),
  },
  { weight: 2, arbitrary: rawPropsPacketArb.map((b): [Level, Buffer | null] => [5, b]) },
)

function codec(o: Options): void {
  const counts = { decoded: 0, refused81: 0, refused82: 0, skipped: 0 }
  const t0 = performance.now()
  fc.assert(
    fc.property(caseArb, ([v, bytes]) => {
      if (bytes === null) {
        counts.skipped++
        return
      }
      const r = decodeAndReencode(bytes, v)
      if (r.refused === null) counts.decoded++
      else if (r.refused === 0x81) counts.refused81++
      else counts.refused82++
    }),
    { seed: o.seed, numRuns: o.cases },
  )
  const s = (performance.now() - t0) / 1000
  const n = counts.decoded + counts.refused81 + counts.refused82
  process.stdout.write(
    `codec: ${n} cases in ${s.toFixed(1)} s (${Math.round(n / s)}/s), 0 failures: ${counts.decoded} decoded and re-encoded, ` +
      `${counts.refused81} refused 0x81, ${counts.refused82} refused 0x82 (${counts.skipped} generator combinations mqtt-packet cannot build, skipped)\n`,
  )
}

function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : 0
}

function connect(port: number, opts: mqtt.IClientOptions): Promise<MqttClient> {
  return mqtt.connectAsync({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
}

async function roundTrip(port: number, protocolVersion: 4 | 5): Promise<void> {
  const c = await connect(port, { protocolVersion, clientId: `rt-${protocolVersion}` })
  try {
    const got = new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('no QoS 1 round trip within 5 s')), 5000)
      c.once('message', () => {
        clearTimeout(t)
        res()
      })
    })
    await c.subscribeAsync('rt/check', { qos: 1 })
    await c.publishAsync('rt/check', 'ok', { qos: 1 })
    await got
  } finally {
    await c.endAsync(true)
  }
}

async function endToEnd(o: Options): Promise<void> {
  const b = await startBroker('fieldgate', { repoRoot, minFiles: 4096 })
  const offline = { protocolVersion: 5 as const, clientId: 'observer-offline', clean: false, properties: { sessionExpiryInterval: 3600 } }
  let live: MqttClient | null = null
  try {
    live = await connect(b.port, { protocolVersion: 5, clientId: 'observer-live' })
    let delivered = 0
    live.on('message', () => delivered++)
    await live.subscribeAsync(['#', 'fz/#'], { qos: 2 })
    const off = await connect(b.port, offline)
    await off.subscribeAsync('fz/#', { qos: 2 })
    await off.endAsync()
    const rssStart = rssKb(b.pid)
    let runs = 0
    let sessions = 0
    const t0 = performance.now()
    await fc.assert(
      fc.asyncProperty(fc.array(sessionSpecArb, { minLength: 1, maxLength: 4 }), async (specs) => {
        runs++
        sessions += specs.length
        await Promise.all(specs.map((s) => playSession(b.port, s)))
        const back = await connect(b.port, offline)
        await back.endAsync(true)
        await roundTrip(b.port, runs % 2 === 0 ? 4 : 5)
        if (!b.alive()) throw new Error(`the broker process ended: ${b.log().slice(-500)}`)
        if (live?.connected !== true) throw new Error('the live v5 observer was disconnected')
      }),
      { seed: o.seed, numRuns: o.sessions },
    )
    const s = (performance.now() - t0) / 1000
    process.stdout.write(
      `end to end: ${runs} runs, ${sessions} generated sessions in ${s.toFixed(1)} s; a QoS 1 round trip after each run; ` +
        `broker alive; ${delivered} messages delivered to the live v5 observer; broker RSS ${Math.round(rssStart / 1024)} MB -> ${Math.round(rssKb(b.pid) / 1024)} MB\n`,
    )
  } finally {
    await live?.endAsync(true)
    await b.stop()
  }
}

const o = parse(process.argv.slice(2))
process.stdout.write(`fuzz: seed ${o.seed} (repeat with --seed ${o.seed}), ${o.cases} codec cases, ${o.sessions} end-to-end runs\n`)
try {
  if (o.cases > 0) codec(o)
  if (o.sessions > 0) await endToEnd(o)
} catch (err) {
  process.stdout.write(`FAILED (seed ${o.seed}): ${err instanceof Error ? err.message : String(err)}\n`)
  killLiveChildren()
  process.exitCode = 1
}

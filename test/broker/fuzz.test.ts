import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generate, type Packet } from 'mqtt-packet'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, rawSocket, sleep, startBroker, type TestBroker } from './helpers.ts'
import { seededRandom } from '../../src/core/random.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

let tb: TestBroker
before(async () => {
  tb = await startBroker({ limits: { max_packet_size: 65536, connect_timeout: 500 } })
})
after(async () => {
  await tb.close()
})


function connectPacket(rnd: () => number, v: 4 | 5): Buffer {
  const p: Packet = { cmd: 'connect', clientId: `fz${Math.floor(rnd() * 1e6)}`, protocolVersion: v, protocolId: 'MQTT', clean: rnd() < 0.5, keepalive: 30, will: { topic: 'fz/will', payload: Buffer.from('w'), qos: 1, retain: false } }
  return generate(p, { protocolVersion: v })
}

/** A well-formed packet a client may send after CONNECT; ids advance so only mutations break the rules. */
function validPacket(rnd: () => number, v: 4 | 5, i: number): Buffer {
  const id = (i % 65535) + 1
  const choices: Packet[] = [
    { cmd: 'publish', topic: 'fz/a/b', payload: Buffer.from('payload'), qos: 0, retain: false, dup: false },
    { cmd: 'publish', topic: 'fz/a/b', payload: Buffer.from('payload'), qos: 1, retain: rnd() < 0.3, dup: false, messageId: id },
    { cmd: 'publish', topic: `fz/q2/${i % 7}`, payload: Buffer.alloc(Math.floor(rnd() * 300)), qos: 2, retain: false, dup: false, messageId: id },
    { cmd: 'subscribe', messageId: id, subscriptions: [{ topic: 'fz/#', qos: 2 }, { topic: '$share/g/fz/+', qos: 1 }] },
    { cmd: 'unsubscribe', messageId: id, unsubscriptions: ['fz/#'] },
    { cmd: 'pubrel', messageId: id },
    { cmd: 'puback', messageId: id },
    { cmd: 'pingreq' },
  ]
  return generate(choices[Math.floor(rnd() * choices.length)] as Packet, { protocolVersion: v })
}

function mutate(buf: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(buf)
  const flips = 1 + Math.floor(rnd() * 4)
  for (let i = 0; i < flips; i++) out[Math.floor(rnd() * out.length)] = Math.floor(rnd() * 256)
  if (rnd() < 0.2) return out.subarray(0, Math.floor(rnd() * out.length))
  return out
}

async function round(seed: number, sockets: number, perSocket: number): Promise<void> {
  const rnd = seededRandom(seed)
  await Promise.all(
    Array.from({ length: sockets }, async (_, s) => {
      const r = await rawSocket(tb.port)
      const v = s % 2 === 0 ? 4 : 5
      // most sockets start well so the fuzz reaches the post-CONNECT handlers
      if (rnd() < 0.8) r.socket.write(connectPacket(rnd, v))
      for (let i = 0; i < perSocket && !r.socket.destroyed; i++) {
        const kind = rnd()
        let b: Buffer
        if (kind < 0.005) b = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)))
        else if (kind < 0.015) b = mutate(rnd() < 0.1 ? connectPacket(rnd, v) : validPacket(rnd, v, i), rnd)
        else b = validPacket(rnd, v, i)
        r.socket.write(b)
        if (i % 20 === 0) await sleep(1)
      }
      await Promise.race([r.closed, sleep(200)])
      r.socket.destroy()
    }),
  )
}

async function assertFullService(): Promise<void> {
  for (const protocolVersion of [4, 5] as const) {
    const sub = await connectClient(tb.port, { protocolVersion })
    const got = collect(sub)
    await sub.subscribeAsync('svc/+', { qos: 2 })
    const pub = await connectClient(tb.port, { protocolVersion })
    await pub.publishAsync('svc/a', '0', { qos: 0 })
    await pub.publishAsync('svc/a', '1', { qos: 1 })
    await pub.publishAsync('svc/a', '2', { qos: 2 })
    await waitFor(() => got.length === 3, 5000, 10, 'three messages after fuzzing')
    await Promise.all([endClient(sub), endClient(pub)])
  }
}

function connections(): number {
  return (tb.broker.status().details as { clients: { connections: number } }).clients.connections
}

test('random and mutated packets from several sockets leave the broker serving and memory bounded', { timeout: 50_000 }, async () => {
  await round(1, 8, 200) // warm-up so lazy allocations do not count as growth
  await waitFor(() => connections() === 0, 5000, 20, 'fuzz connections closed')
  gc()
  const heap0 = process.memoryUsage().heapUsed
  for (let seed = 2; seed < 6; seed++) await round(seed, 8, 200)
  await waitFor(() => connections() === 0, 5000, 20, 'fuzz connections closed')
  await sleep(100)
  gc()
  const heap1 = process.memoryUsage().heapUsed
  await assertFullService()
  const grown = heap1 - heap0
  // 4 rounds × 8 sockets × 200 packets went through; a leak of even a few hundred bytes per packet would show
  assert.ok(grown < 8 * 1024 * 1024, `heap grew by ${Math.round(grown / 1024)} KB`)
  const d = tb.broker.status().details as { clients: { sessions: number } }
  assert.ok(d.clients.sessions < 200, `sessions left: ${d.clients.sessions}`)
})

import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connectAsync, type MqttClient } from 'mqtt'
import { startCluster, type Cluster } from './cluster.ts'
import { waitFor } from './tmp.ts'

/** The two-node Aedes cluster the fleet cluster test runs on behaves as one broker across its nodes. */
const users = { u: 'p' }
let cluster: Cluster
const clients: MqttClient[] = []

async function client(port: number, opts: { clientId?: string; will?: { topic: string; payload: string } } = {}): Promise<MqttClient> {
  const c = await connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    username: 'u',
    password: 'p',
    ...(opts.clientId === undefined ? {} : { clientId: opts.clientId }),
    ...(opts.will === undefined ? {} : { will: { ...opts.will, qos: 1 as const, retain: true } }),
  })
  c.on('error', () => undefined)
  clients.push(c)
  return c
}

before(async () => {
  cluster = await startCluster({ users, heartbeatMs: 500 })
})

after(async () => {
  for (const c of clients) c.end(true)
  await cluster?.stop()
})

test('a message published on one node reaches a subscriber on the other, and a retained one is seen from the other', async () => {
  const [a, b] = cluster.nodes as [Cluster['nodes'][number], Cluster['nodes'][number]]
  assert.notEqual(a.id, b.id)
  const sub = await client(b.port)
  const got: string[] = []
  sub.on('message', (topic, payload) => got.push(`${topic}=${payload.toString()}`))
  await sub.subscribeAsync('t/#', { qos: 1 })
  const pub = await client(a.port)
  await pub.publishAsync('t/live', 'x', { qos: 1 })
  await pub.publishAsync('t/kept', 'y', { qos: 1, retain: true })
  await waitFor(() => got.includes('t/live=x') && got.includes('t/kept=y'), 10_000, 20, 'both messages on node B')
  const late = await client(b.port)
  const retained = new Promise<string>((resolve) => late.on('message', (_t, p, packet) => packet.retain && resolve(p.toString())))
  await late.subscribeAsync('t/kept', { qos: 1 })
  assert.equal(await retained, 'y')
})

test('a wrong password is refused', async () => {
  await assert.rejects(connectAsync(`mqtt://127.0.0.1:${cluster.nodes[0]?.port}`, { protocolVersion: 4, reconnectPeriod: 0, username: 'u', password: 'bad' }), /Not authorized|Bad username/)
})

test('the wills of a node killed with SIGKILL are published by the surviving node after its heartbeats stop', async () => {
  const watcher = await client(cluster.nodes[1]?.port as number)
  const wills: string[] = []
  watcher.on('message', (topic, payload) => wills.push(`${topic}=${payload.toString()}`))
  await watcher.subscribeAsync('w/#', { qos: 1 })
  await client(cluster.nodes[0]?.port as number, { clientId: 'will-holder', will: { topic: 'w/holder', payload: 'gone' } })
  const killedAt = Date.now()
  await cluster.nodes[0]?.stop('SIGKILL')
  await waitFor(() => wills.includes('w/holder=gone'), 20_000, 50, 'the will from node B')
  // 3 to 4 heartbeats (500 ms) of silence, plus the sweep interval.
  assert.ok(Date.now() - killedAt >= 1000, `will published ${Date.now() - killedAt} ms after the kill`)
  const back = await cluster.restart(0)
  const c = await client(back.port)
  await c.publishAsync('t/after-restart', 'z', { qos: 1 })
})

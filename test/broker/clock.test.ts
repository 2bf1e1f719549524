import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FakeClock } from '../../src/core/clock.ts'
import { waitFor } from '../helpers/tmp.ts'
import { collect, connectClient, endClient, rawSocket, sleep, startBroker } from './helpers.ts'

/** Timers run on the injected clock: keep-alive, connect timeout and session expiry without waiting. */

test('keep-alive expiry follows the injected clock', { timeout: 10_000 }, async () => {
  const clock = new FakeClock(Date.now())
  const tb = await startBroker({ clock })
  const watcher = await connectClient(tb.port, { protocolVersion: 4, keepalive: 0 })
  const got = collect(watcher)
  await watcher.subscribeAsync('fc/will', { qos: 1 })
  const victim = await connectClient(tb.port, { protocolVersion: 4, keepalive: 10, clientId: 'fc-victim', will: { topic: 'fc/will', payload: Buffer.from('late'), qos: 1, retain: false } })
  const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()))
  clock.advance(14_000) // < 1.5 × 10 s: still fine
  await sleep(50)
  assert.equal(victim.connected, true)
  clock.advance(2_000)
  await closed
  await waitFor(() => got.length === 1, 3000, 10, 'will')
  await Promise.all([endClient(victim, true), endClient(watcher)])
  await tb.close()
})

test('connect_timeout follows the injected clock', { timeout: 10_000 }, async () => {
  const clock = new FakeClock(Date.now())
  const tb = await startBroker({ clock, limits: { connect_timeout: 5000 } })
  const r = await rawSocket(tb.port)
  clock.advance(4000)
  await sleep(50)
  assert.equal(r.socket.destroyed, false)
  clock.advance(1500)
  await r.closed
  await tb.close()
})

test('session expiry follows the injected clock', { timeout: 10_000 }, async () => {
  const clock = new FakeClock(Date.now())
  const tb = await startBroker({ clock })
  const opts = { protocolVersion: 5 as const, clientId: 'fc-exp', clean: false, properties: { sessionExpiryInterval: 60 } }
  const a = await connectClient(tb.port, opts)
  await a.subscribeAsync('fc/x', { qos: 1 })
  await endClient(a)
  await sleep(50)
  const sessions = (): number => (tb.broker.status().details as { clients: { sessions: number } }).clients.sessions
  assert.equal(sessions(), 1)
  clock.advance(59_000)
  assert.equal(sessions(), 1)
  clock.advance(2_000)
  assert.equal(sessions(), 0)
  await tb.close()
})

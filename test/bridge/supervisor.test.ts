import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InflightGate, limitsFromConnack } from '../../src/bridge/limits.ts'
import { Probe } from '../../src/bridge/probe.ts'
import { Supervisor } from '../../src/bridge/supervisor.ts'
import { Backoff, FakeClock } from '../../src/core/index.ts'

function sup(servers = ['mqtt://a', 'mqtt://b'], random = () => 1) {
  const clock = new FakeClock(1000)
  return { clock, s: new Supervisor(servers, new Backoff(100, 1000, random), clock, 5000) }
}

test('failed attempts try the servers in turn and back off up to the cap, never giving up', () => {
  const { s } = sup()
  const tried: string[] = []
  const delays: number[] = []
  for (let i = 0; i < 8; i++) {
    tried.push(s.begin())
    delays.push(s.failed('refused'))
  }
  assert.deepEqual(tried, ['mqtt://a', 'mqtt://b', 'mqtt://a', 'mqtt://b', 'mqtt://a', 'mqtt://b', 'mqtt://a', 'mqtt://b'])
  assert.deepEqual(delays, [300, 900, 1000, 1000, 1000, 1000, 1000, 1000])
  assert.equal(s.state, 'backoff')
  assert.equal(s.lastError, 'refused')
  assert.equal(s.attempts, 8)
})

test('state and since follow connecting, online, backoff and offline', () => {
  const { s, clock } = sup()
  assert.equal(s.state, 'offline')
  s.begin()
  assert.equal(s.state, 'connecting')
  clock.advance(50)
  s.connected()
  assert.equal(s.state, 'online')
  assert.equal(s.since, 1050)
  clock.advance(10)
  s.failed('closed')
  assert.equal(s.state, 'backoff')
  assert.equal(s.since, 1060)
  s.stopped()
  assert.equal(s.state, 'offline')
})

test('a link that drops soon after connecting keeps backing off; one that stayed up starts again from the minimum', () => {
  const { s, clock } = sup(['mqtt://a'])
  s.begin()
  s.failed('x') // 300
  s.begin()
  s.failed('x') // 900
  s.begin()
  s.connected()
  clock.advance(100)
  assert.equal(s.failed('flap'), 1000, 'short-lived link: no reset')
  s.begin()
  s.connected()
  clock.advance(6000)
  assert.equal(s.failed('drop after a long time'), 300, 'stable link: reset to the start of the sequence')
  assert.equal(s.server, 'mqtt://a', 'a dropped link retries the same server first')
})

test('reconnects count successful connections after the first', () => {
  const { s } = sup()
  s.begin()
  s.connected()
  assert.equal(s.reconnects, 0)
  s.failed('x')
  s.begin()
  s.connected()
  assert.equal(s.reconnects, 1)
})

test('the probe measures the round trip of its own token and ignores other payloads', () => {
  const clock = new FakeClock(0)
  const sent: string[] = []
  let timeouts = 0
  const p = new Probe(clock, 1000, 300, 'gw', (b) => sent.push(b.toString()), () => timeouts++)
  p.start()
  assert.deepEqual(sent, ['gw:0'])
  clock.advance(20)
  assert.equal(p.received(Buffer.from('other:0')), false)
  assert.equal(p.received(Buffer.from('gw:0')), true)
  assert.equal(p.rtt, 20)
  clock.advance(1000)
  assert.deepEqual(sent, ['gw:0', 'gw:1'])
  assert.equal(timeouts, 0)
  p.stop()
  assert.equal(clock.pending(), 0)
})

test('a probe that does not come back within the timeout reports the link dead once', () => {
  const clock = new FakeClock(0)
  const waited: number[] = []
  const p = new Probe(clock, 1000, 300, 'gw', () => undefined, (w) => waited.push(w))
  p.start()
  clock.advance(299)
  assert.deepEqual(waited, [])
  clock.advance(1)
  assert.deepEqual(waited, [300])
  p.stop()
})

test('an interval of zero turns the probe off', () => {
  const clock = new FakeClock(0)
  const sent: Buffer[] = []
  const p = new Probe(clock, 0, 300, 'gw', (b) => sent.push(b), () => undefined)
  p.start()
  clock.advance(10_000)
  assert.equal(sent.length, 0)
  assert.equal(clock.pending(), 0)
})

test('the in-flight gate passes publishes up to the limit, then hands freed slots out in arrival order', async () => {
  const gate = new InflightGate(2)
  assert.equal(gate.tryAcquire(), true)
  assert.equal(gate.tryAcquire(), true)
  assert.equal(gate.tryAcquire(), false)
  const order: number[] = []
  const a = gate.wait().then(() => order.push(1))
  const b = gate.wait().then(() => order.push(2))
  assert.equal(gate.tryAcquire(), false, 'a newcomer does not overtake those waiting')
  gate.release()
  gate.release()
  await Promise.all([a, b])
  assert.deepEqual(order, [1, 2])
  assert.equal(gate.tryAcquire(), false, 'both slots went to the waiters')
})

test('waiting publishes are rejected when the connection goes away', async () => {
  const gate = new InflightGate(1)
  gate.tryAcquire()
  const w = gate.wait()
  gate.rejectAll(new Error('gone'))
  await assert.rejects(w, /gone/)
  assert.equal(gate.tryAcquire(), true, 'a new connection starts with free slots')
})

test('CONNACK limits: Receive Maximum, Maximum QoS and Retain Available, with defaults when absent', () => {
  assert.deepEqual(limitsFromConnack(undefined), { receiveMaximum: 65535, maximumQoS: 2, retainAvailable: true })
  assert.deepEqual(
    limitsFromConnack({ cmd: 'connack', returnCode: 0, sessionPresent: false, properties: { receiveMaximum: 10, maximumQoS: 1, retainAvailable: false } }),
    { receiveMaximum: 10, maximumQoS: 1, retainAvailable: false },
  )
})

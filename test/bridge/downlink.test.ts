import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { IPublishPacket } from 'mqtt'
import { Downlink } from '../../src/bridge/downlink.ts'
import { FakeClock, silentLogger } from '../../src/core/index.ts'
import { FakeLocalBroker, uplinkOptionsOf } from './fixtures.ts'

const rules = uplinkOptionsOf({ url: 'mqtt://127.0.0.1:1', downlink: [{ remote_filter: 'site/gw1/cmd/#', strip_prefix: 'site/gw1/', local: '{topic}', qos: 1 }] }).downlink

function packet(topic: string, qos: 0 | 1 | 2 = 1): IPublishPacket {
  return { cmd: 'publish', topic, payload: Buffer.from('p'), qos, retain: false, dup: false }
}

function downlink(v5: boolean, local: FakeLocalBroker): Downlink {
  return new Downlink(rules, 'gw1', v5, ['site/gw1/status'], local, '$bridge:cloud', new FakeClock(5000), silentLogger)
}

test('on MQTT 3.1.1 a message on a topic we publish to is our own echo: dropped and counted; a command is delivered', async () => {
  const local = new FakeLocalBroker()
  const d = downlink(false, local)
  assert.deepEqual(d.subscriptions(), { 'site/gw1/cmd/#': { qos: 1 } })
  d.receive('site/gw1/status', Buffer.from('online'), packet('site/gw1/status'))
  d.receive('site/gw1/cmd/valve', Buffer.from('open'), packet('site/gw1/cmd/valve'))
  await new Promise((r) => setImmediate(r))
  assert.equal(d.loopsDropped, 1)
  assert.equal(d.downlinked, 1)
  assert.deepEqual(
    local.published.map((m) => m.topic),
    ['cmd/valve'],
  )
})

test('on MQTT 5 downlink subscriptions ask for No Local, and a matching message is delivered locally with the origin tag and arrival time', async () => {
  const local = new FakeLocalBroker()
  const d = downlink(true, local)
  assert.deepEqual(d.subscriptions(), { 'site/gw1/cmd/#': { qos: 1, nl: true } })
  d.receive('site/gw1/cmd/valve', Buffer.from('open'), packet('site/gw1/cmd/valve'))
  d.receive('site/gw1/status', Buffer.from('no rule'), packet('site/gw1/status')) // No Local keeps echoes away: no echo check
  await new Promise((r) => setImmediate(r))
  assert.equal(d.loopsDropped, 0)
  assert.equal(d.downlinked, 1)
  assert.deepEqual(
    local.published.map((m) => [m.topic, m.payload.toString(), m.origin, m.receivedAt]),
    [['cmd/valve', 'open', '$bridge:cloud', 5000]],
  )
})

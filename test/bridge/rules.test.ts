import assert from 'node:assert/strict'
import { test } from 'node:test'
import { envelopePayload, parseEnvelope } from '../../src/bridge/envelope.ts'
import { DownlinkRules, ForwardRules, MESSAGE_ID_PROPERTY, MessageIds, TIMESTAMP_PROPERTY } from '../../src/bridge/rules.ts'
import { uplinkSchema } from '../../src/config/sections/bridge.ts'
import { uplinkOptions } from '../../src/gateway/options/uplink.ts'
import type { Message } from '../../src/core/index.ts'

function rulesOf(input: Record<string, unknown>[]): ForwardRules {
  const cfg = uplinkOptions(uplinkSchema.parse({ name: 'u', url: 'mqtt://127.0.0.1:1', forward: input }))
  return new ForwardRules(cfg.forward, 'gw1', new MessageIds(() => 0.5), () => 1_000)
}

function msg(topic: string, over: Partial<Message> = {}): Message {
  return { topic, payload: Buffer.from('21.5'), qos: 1, retain: false, ...over }
}

test('the first matching forward rule decides the remote topic', () => {
  const r = rulesOf([
    { filter: 'plant/line1/#', remote: 'special/{topic}' },
    { filter: 'plant/#', remote: 'fleet/{gateway}/{topic}', strip_prefix: 'plant/' },
  ])
  assert.equal(r.outbound(msg('plant/line1/temp'))?.topic, 'special/plant/line1/temp')
  assert.equal(r.outbound(msg('plant/line2/temp'))?.topic, 'fleet/gw1/line2/temp')
  assert.equal(r.outbound(msg('other/x')), null)
})

test('QoS and retain are taken from the message or fixed by the rule', () => {
  const r = rulesOf([
    { filter: 'a/#' },
    { filter: 'b/#', qos: 0, retain: true },
  ])
  const a = r.outbound(msg('a/1', { qos: 2, retain: true }))
  assert.equal(a?.qos, 2)
  assert.equal(a?.retain, true)
  const b = r.outbound(msg('b/1', { qos: 2, retain: false }))
  assert.equal(b?.qos, 0)
  assert.equal(b?.retain, true)
})

test('raw forwarding keeps the payload and adds a stable message id and the original time as user properties', () => {
  const r = rulesOf([{ filter: '#' }])
  const m = r.outbound(msg('t', { receivedAt: 42, properties: { userProperties: { unit: 'C' }, contentType: 'text/plain' } }))
  assert.ok(m)
  assert.equal(m.payload.toString(), '21.5')
  assert.equal(m.properties?.contentType, 'text/plain')
  assert.equal(m.properties?.userProperties?.unit, 'C')
  assert.equal(m.properties?.userProperties?.[TIMESTAMP_PROPERTY], '42')
  const id1 = m.properties?.userProperties?.[MESSAGE_ID_PROPERTY]
  const id2 = r.outbound(msg('t'))?.properties?.userProperties?.[MESSAGE_ID_PROPERTY]
  assert.equal(typeof id1, 'string')
  assert.notEqual(id1, id2)
})

test('envelope forwarding wraps payload, topic, client, QoS, retain, time, properties and metadata in JSON', () => {
  const r = rulesOf([{ filter: '#', format: 'envelope', metadata: { site: 'north' } }])
  const m = r.outbound(msg('plant/temp', { origin: 'plc-7', receivedAt: 99, retain: true, properties: { correlationData: Buffer.from([1, 2]) } }))
  assert.ok(m)
  const e = parseEnvelope(m.payload)
  assert.ok(e)
  assert.equal(e.topic, 'plant/temp')
  assert.equal(e.clientId, 'plc-7')
  assert.equal(e.qos, 1)
  assert.equal(e.retain, true)
  assert.equal(e.ts, 99)
  assert.equal(e.gateway, 'gw1')
  assert.deepEqual(e.metadata, { site: 'north' })
  assert.equal(e.properties?.correlationData, Buffer.from([1, 2]).toString('base64'))
  assert.equal(envelopePayload(e).toString(), '21.5')
  assert.equal(e.id, m.properties?.userProperties?.[MESSAGE_ID_PROPERTY])
})

test('a binary payload travels base64-encoded in the envelope and comes back byte for byte', () => {
  const r = rulesOf([{ filter: '#', format: 'envelope' }])
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x80])
  const e = parseEnvelope(r.outbound(msg('bin', { payload: bytes }))?.payload ?? Buffer.alloc(0))
  assert.equal(e?.encoding, 'base64')
  assert.ok(e && envelopePayload(e).equals(bytes))
})

test('a message matching several subscribed filters is forwarded only through its first rule', () => {
  const r = rulesOf([{ filter: 'a/b' }, { filter: 'a/#' }])
  assert.ok(r.outbound(msg('a/b'), 'a/b'))
  assert.equal(r.outbound(msg('a/b'), 'a/#'), null)
  assert.ok(r.outbound(msg('a/c'), 'a/#'))
  assert.deepEqual(r.filters(), ['a/b', 'a/#'])
})

test('downlink rules remap remote topics to local ones and keep or fix the retain flag', () => {
  const cfg = uplinkOptions(
    uplinkSchema.parse({
      name: 'u',
      url: 'mqtt://127.0.0.1:1',
      downlink: [
        { remote_filter: 'cmd/gw1/#', strip_prefix: 'cmd/gw1/', local: 'commands/{topic}' },
        { remote_filter: 'cfg/#', local: 'config/{gateway}/{2}', retain: 'message' },
      ],
    }),
  )
  const d = new DownlinkRules(cfg.downlink, 'gw1')
  assert.deepEqual(d.subscriptions(), [
    { filter: 'cmd/gw1/#', qos: 1 },
    { filter: 'cfg/#', qos: 1 },
  ])
  const c = d.inbound({ topic: 'cmd/gw1/pump/set', payload: Buffer.from('1'), qos: 1, retain: true })
  assert.equal(c?.topic, 'commands/pump/set')
  assert.equal(c?.retain, false)
  const k = d.inbound({ topic: 'cfg/rate', payload: Buffer.from('5'), qos: 0, retain: true })
  assert.equal(k?.topic, 'config/gw1/rate')
  assert.equal(k?.retain, true)
  assert.equal(d.inbound({ topic: 'other', payload: Buffer.alloc(0), qos: 0, retain: false }), null)
})

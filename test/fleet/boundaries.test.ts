// Regression tests from the issue-16 review: management traffic stays inside its tree, replies cannot be
// turned into requests, pushed configs cannot change the update trust anchors, and gateways flashed from
// one image do not share a management client id. Each failed before its fix.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DownlinkRules } from '../../src/bridge/rules.ts'
import { loadConfigText } from '../../src/config/index.ts'
import { parseRequest } from '../../src/fleet/rpc.ts'
import { mgmtTopics, validReplyTopic } from '../../src/fleet/topics.ts'
import { linkSpecOf, managementId, remoteRefusal } from '../../src/gateway/fleet.ts'

const base = (extra: string): string => `[gateway]\nid = "site-1"\n[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:1883"\n[uplinks.management]\nenabled = true\n${extra}`

test('a pushed config may not change the update trust anchors (update.public_keys); other changes still pass', () => {
  const cur = loadConfigText(base(''), 'cur', {}).config
  const attackerKey = Buffer.alloc(32, 7).toString('base64')
  const next = loadConfigText(base(`[update]\npublic_keys = ["${attackerKey}"]\n`), 'next', {}).config
  assert.match(String(remoteRefusal(cur, next)), /update\.\*.*cannot be changed by remote configuration/)
  const harmless = loadConfigText(base('[log]\nlevel = "debug"\n'), 'next', {}).config
  assert.equal(remoteRefusal(cur, harmless), null)
})

test('a pushed config may not change who may push configs (uplinks.management.operator_keys)', () => {
  const k = (n: number): string => Buffer.alloc(32, n).toString('base64')
  const cur = loadConfigText(base(`operator_keys = ["${k(1)}"]\n`), 'cur', {}).config
  for (const keys of [`["${k(1)}", "${k(9)}"]`, '[]']) {
    const next = loadConfigText(base(`operator_keys = ${keys}\n`), 'next', {}).config
    assert.match(String(remoteRefusal(cur, next)), /operator_keys \(who may push configs\) cannot be changed by remote configuration/, keys)
  }
  assert.equal(remoteRefusal(cur, loadConfigText(base(`operator_keys = ["${k(1)}"]\n[log]\nlevel = "debug"\n`), 'next', {}).config), null)
})

test('a reply topic may not point into a management request tree, of this or another gateway; res/ and own topics may', () => {
  const t = mgmtTopics('site-1')
  const toOther = parseRequest(t, 'fieldgate/site-1/mgmt/req/inventory', Buffer.from(JSON.stringify({ reply_to: 'fieldgate/site-2/mgmt/req/config', correlation_id: 'x' })))
  assert.ok(toOther && !toOther.ok, 'a reply would be published as a request to another gateway')
  const toSelf = parseRequest(t, 'fieldgate/site-1/mgmt/req/inventory', Buffer.from('{}'), { responseTopic: 'fieldgate/site-1/mgmt/req/logs' })
  assert.ok(toSelf && !toSelf.ok, 'a reply would be published onto its own request topic')
  assert.equal(validReplyTopic('fieldgate/site-1/mgmt/inventory'), false)
  assert.equal(validReplyTopic('fieldgate/site-1/mgmt/res/inventory'), true)
  assert.equal(validReplyTopic('ops/replies/42'), true)
})

test('two gateways flashed with one image (gateway.id left at its default) use different management client ids', () => {
  const text = '[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:1883"\n[uplinks.management]\nenabled = true\n'
  const c = loadConfigText(text, 'same-image', {}).config
  assert.notEqual(managementId(c, () => 'machine-a'), managementId(c, () => 'machine-b'))
  const id = linkSpecOf(c).connectArgs('mqtt://127.0.0.1:1883').options.clientId
  assert.equal(id, `${managementId(c)}-cloud-mgmt`)
  const named = loadConfigText(base(''), 'named', {}).config
  assert.equal(linkSpecOf(named).connectArgs('mqtt://127.0.0.1:1883').options.clientId, 'site-1-cloud-mgmt', 'unchanged when gateway.id is set')
})

test('a downlink rule never brings management traffic (pushed configs with their secrets) into the LAN broker', () => {
  const rules = new DownlinkRules([{ remoteFilter: '#', local: '{topic}', qos: 1, retain: false }], 'site-1')
  const pushed = Buffer.from('[[uplinks]]\nname = "cloud"\nurl = "mqtts://gw:cloud-secret@cloud.example"\n')
  assert.equal(rules.inbound({ topic: 'fieldgate/site-1/mgmt/req/config', payload: pushed, qos: 1, retain: false }), null)
  assert.equal(rules.inbound({ topic: 'fieldgate/site-2/mgmt/res/config', payload: pushed, qos: 1, retain: false }), null)
  assert.equal(rules.inbound({ topic: 'site-1/cmd/relay', payload: Buffer.from('1'), qos: 1, retain: false })?.topic, 'site-1/cmd/relay')
})

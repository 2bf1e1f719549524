import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseRequest, replyBody } from '../../src/fleet/rpc.ts'
import { isManagementTopic, mgmtTopics } from '../../src/fleet/topics.ts'

const t = mgmtTopics('site-1')
const TOML = '[gateway]\nid = "site-1"\n'

test('an MQTT 5 request takes the bare TOML as payload and is answered on its Response Topic with its Correlation Data', () => {
  const p = parseRequest(t, 'fieldgate/site-1/mgmt/req/config', Buffer.from(TOML), { responseTopic: 'ops/replies/7', correlationData: Buffer.from('c-7') })
  assert.ok(p?.ok)
  assert.equal(p.request.op, 'config')
  assert.equal(p.request.config, TOML)
  assert.equal(p.request.route.topic, 'ops/replies/7')
  assert.deepEqual(p.request.route.correlationData, Buffer.from('c-7'))
})

test('an MQTT 3.1.1 request carries reply_to and correlation_id in a JSON body, and the reply echoes the id', () => {
  const body = JSON.stringify({ config: TOML, reply_to: 'ops/replies/b', correlation_id: 'abc', commit_deadline: '45s' })
  const p = parseRequest(t, 'fieldgate/site-1/mgmt/req/config', Buffer.from(body))
  assert.ok(p?.ok)
  assert.equal(p.request.route.topic, 'ops/replies/b')
  assert.equal(p.request.route.correlationId, 'abc')
  assert.equal(p.request.deadlineMs, 45_000)
  const reply = JSON.parse(replyBody(p.request.route, 'config', { ok: true }).toString()) as Record<string, unknown>
  assert.equal(reply.correlation_id, 'abc')
  assert.equal(reply.ok, true)
})

test('without any reply topic the answer goes to fieldgate/<id>/mgmt/res/<op>', () => {
  const p = parseRequest(t, 'fieldgate/site-1/mgmt/req/inventory', Buffer.alloc(0))
  assert.ok(p?.ok)
  assert.equal(p.request.route.topic, 'fieldgate/site-1/mgmt/res/inventory')
})

test('topics outside this gateway\'s request tree are not requests', () => {
  assert.equal(parseRequest(t, 'fieldgate/site-2/mgmt/req/config', Buffer.from(TOML)), null)
  assert.equal(parseRequest(t, 'fieldgate/site-1/mgmt/inventory', Buffer.from('{}')), null)
  assert.equal(parseRequest(t, 'fieldgate/site-1/mgmt/req/', Buffer.from(TOML)), null)
})

test('refusals name the problem: wildcard reply topics, unknown operations, empty configs, bad deadlines', () => {
  const reason = (topic: string, payload: string, props = {}): string => {
    const p = parseRequest(t, topic, Buffer.from(payload), props)
    assert.ok(p && !p.ok, `expected a refusal for ${payload}`)
    return p.reason
  }
  assert.match(reason('fieldgate/site-1/mgmt/req/config', TOML, { responseTopic: 'ops/#' }), /not a topic name/)
  assert.match(reason('fieldgate/site-1/mgmt/req/config', JSON.stringify({ config: TOML, reply_to: '$SYS/x' })), /reply_to must be a topic name/)
  assert.match(reason('fieldgate/site-1/mgmt/req/reboot', ''), /unknown operation "reboot"; this gateway understands config, inventory, logs, status/)
  assert.match(reason('fieldgate/site-1/mgmt/req/logs', JSON.stringify({ lines: 5000 })), /lines must be a whole number from 1 to 1000/)
  assert.match(reason('fieldgate/site-1/mgmt/req/config', '   '), /carries the whole TOML config/)
  assert.match(reason('fieldgate/site-1/mgmt/req/config', '{"config": 1'), /not JSON/)
  assert.match(reason('fieldgate/site-1/mgmt/req/config', JSON.stringify({ config: TOML, commit_deadline: 'soon' })), /commit_deadline/)
})

test('a refused request with a JSON body still carries its correlation id back', () => {
  const p = parseRequest(t, 'fieldgate/site-1/mgmt/req/nope', Buffer.from(JSON.stringify({ reply_to: 'ops/r', correlation_id: 'x1' })))
  assert.ok(p && !p.ok)
  assert.equal(p.route.topic, 'ops/r')
  assert.equal(p.route.correlationId, 'x1')
})

test('management trees of every gateway are recognised, and nothing else', () => {
  for (const t of ['fieldgate/site-1/mgmt/req/config', 'fieldgate/x/mgmt', 'fieldgate/x/mgmt/inventory']) assert.ok(isManagementTopic(t), t)
  for (const t of ['fieldgate/site-1/status', 'fieldgate/mgmt', 'fieldgate//mgmt/x', 'plant/fieldgate/a/mgmt/x', 'fieldgate/a/mgmtx/y', 'fieldgate/a/b/mgmt/c']) assert.ok(!isManagementTopic(t), t)
})

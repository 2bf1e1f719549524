import assert from 'node:assert/strict'
import { test } from 'node:test'
import { coversFilter, parseAclFile } from '../../../src/broker/auth/acl.ts'
import { isFieldgateError } from '../../../src/core/errors.ts'
import { stripShare, topicMatches } from '../../../src/core/mqtt-wire/index.ts'

const L = (s: string): string[] => s.split('/')

test('topic matching follows MQTT wildcard rules and keeps $ topics away from leading wildcards', () => {
  assert.equal(topicMatches('a/+/c', 'a/b/c'), true)
  assert.equal(topicMatches('a/#', 'a'), true)
  assert.equal(topicMatches('a/#', 'a/b/c'), true)
  assert.equal(topicMatches('a/+', 'a/b/c'), false)
  assert.equal(topicMatches('#', '$SYS/broker/uptime'), false)
  assert.equal(topicMatches('+/broker/uptime', '$SYS/broker/uptime'), false)
  assert.equal(topicMatches('$SYS/#', '$SYS/broker/uptime'), true)
})

test('a rule covers a subscription filter only when every matching topic is allowed', () => {
  assert.equal(coversFilter(L('a/#'), L('a/+/c')), true)
  assert.equal(coversFilter(L('a/#'), L('a/#')), true)
  assert.equal(coversFilter(L('a/+'), L('a/+')), true)
  assert.equal(coversFilter(L('a/+'), L('a/#')), false)
  assert.equal(coversFilter(L('a/b'), L('a/+')), false)
  assert.equal(coversFilter(L('a/+/c'), L('a/x/c')), true)
  assert.equal(coversFilter(L('a/b/c'), L('a/b')), false)
  assert.equal(coversFilter(L('#'), L('$SYS/#')), false)
  assert.equal(stripShare('$share/g/a/b'), 'a/b')
})

const acl = parseAclFile(
  `
[[rule]]
topic = "devices/%c/#"
access = "readwrite"

[[rule]]
topic = "sensors/%u/#"
access = "write"

[[rule]]
user = "dashboard"
topic = "sensors/#"
access = "read"

[[rule]]
user = "dashboard"
topic = "$SYS/#"
access = "read"

[[rule]]
device = "pump-7"
topic = "pumps/7/#"
access = "readwrite"

[[rule]]
user = "dashboard"
topic = "sensors/secret/#"
access = "deny"
`,
  'acl.toml',
)

test('pattern rules substitute the client id and user name', () => {
  assert.equal(acl.canWrite({ clientId: 'c1' }, 'devices/c1/state'), true)
  assert.equal(acl.canWrite({ clientId: 'c1' }, 'devices/c2/state'), false)
  assert.equal(acl.canSubscribe({ clientId: 'c1' }, 'devices/c1/#'), true)
  assert.equal(acl.canSubscribe({ clientId: 'c1' }, 'devices/+/state'), false)
  assert.equal(acl.canWrite({ clientId: 'x', username: 'alice' }, 'sensors/alice/t'), true)
  assert.equal(acl.canRead({ clientId: 'x', username: 'alice' }, 'sensors/alice/t'), false)
  assert.equal(acl.canWrite({ clientId: 'x' }, 'sensors/alice/t'), false)
})

test('a client id or user name with wildcards or slashes cannot widen a pattern', () => {
  assert.equal(acl.canSubscribe({ clientId: '#' }, 'devices/#'), false)
  assert.equal(acl.canWrite({ clientId: 'a/b' }, 'devices/a/b/x'), false)
  assert.equal(acl.canWrite({ clientId: 'x', username: '+' }, 'sensors/bob/t'), false)
})

test('user and device rules apply only to that identity and deny beats any grant', () => {
  const dash = { clientId: 'd', username: 'dashboard' }
  assert.equal(acl.canSubscribe(dash, 'sensors/#'), true)
  assert.equal(acl.canRead(dash, 'sensors/alice/t'), true)
  assert.equal(acl.canRead(dash, 'sensors/secret/x'), false)
  assert.equal(acl.canSubscribe(dash, 'sensors/secret/#'), false)
  assert.equal(acl.canWrite(dash, 'sensors/alice/t'), false)
  const pump = { clientId: 'p', deviceId: 'pump-7', username: 'Token' }
  assert.equal(acl.canWrite(pump, 'pumps/7/speed'), true)
  assert.equal(acl.canWrite({ clientId: 'p', username: 'pump-7' }, 'pumps/7/speed'), false)
  // %u of a device is its device id, not the "Token" user name.
  assert.equal(acl.canWrite(pump, 'sensors/pump-7/t'), true)
  assert.equal(acl.canWrite(pump, 'sensors/Token/t'), false)
})

test('$SYS is readable only by identities the ACL names', () => {
  assert.equal(acl.canSubscribe({ clientId: 'd', username: 'dashboard' }, '$SYS/#'), true)
  assert.equal(acl.canSubscribe({ clientId: 'devices' }, '$SYS/#'), false)
  assert.equal(acl.canRead({ clientId: 'x', username: 'alice' }, '$SYS/broker/uptime'), false)
  assert.throws(() => parseAclFile('[[rule]]\ntopic = "$SYS/#"\naccess = "read"\n', 'a.toml'), /must name a user or device/)
})

test('an empty ACL denies everything', () => {
  const none = parseAclFile('', 'empty.toml')
  assert.equal(none.canWrite({ clientId: 'c' }, 'a'), false)
  assert.equal(none.canSubscribe({ clientId: 'c' }, '#'), false)
})

test('malformed ACL files are refused with the file name and problem', () => {
  const bad = (text: string, re: RegExp): void =>
    assert.throws(() => parseAclFile(text, 'acl.toml'), (e: unknown) => isFieldgateError(e, 'AUTH_FILE') && re.test(e.message) && e.message.includes('acl.toml'))
  bad('[[rule]]\ntopic = "a"\naccess = "all"\n', /access/)
  bad('[[rule]]\ntopic = "a/#/b"\naccess = "read"\n', /"#" may only be the last level/)
  bad('[[rule]]\ntopic = "a"\naccess = "read"\nuser = "u"\ndevice = "d"\n', /not both/)
  bad('[[rule]\n', /not valid TOML/)
  bad('[[rule]]\ntopic = "a"\naccess = "read"\ncolour = "red"\n', /colour|Unrecognized/i)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { clientOptions, serverList, uplinkTopics } from '../../src/bridge/options.ts'
import { uplinkSchema } from '../../src/config/sections/bridge.ts'
import { uplinkOptions } from '../../src/gateway/options/uplink.ts'
import { loadConfig } from '../../src/config/index.ts'
import { isFieldgateError } from '../../src/core/index.ts'

const files: Record<string, string> = {
  '/s/pw': 'device-token-123\n',
  '/s/ca.pem': 'CA',
  '/s/cert.pem': 'CERT',
  '/s/key.pem': 'KEY',
  '/s/pass': 'hunter2\n',
}
const readFile = (p: string): Buffer => {
  const v = files[p]
  if (v === undefined) throw Object.assign(new Error(`ENOENT: no such file '${p}'`), { code: 'ENOENT' })
  return Buffer.from(v)
}

test('defaults: client id from the gateway id, MQTT 5, clean start, Will offline and birth online retained on the status topic', () => {
  const cfg = uplinkOptions(uplinkSchema.parse({ name: 'cloud', url: 'mqtts://broker.example:8883' }))
  const t = uplinkTopics(cfg, 'gw9')
  assert.equal(t.clientId, 'gw9-cloud')
  assert.equal(t.statusTopic, 'fieldgate/gw9/status')
  assert.equal(t.birthTopic, 'fieldgate/gw9/status')
  const o = clientOptions(cfg, 'gw9', readFile)
  assert.equal(o.protocolVersion, 5)
  assert.equal(o.clean, true)
  assert.equal(o.keepalive, 30)
  assert.equal(o.reconnectPeriod, 0)
  assert.equal(o.rejectUnauthorized, true)
  assert.deepEqual(o.will, { topic: 'fieldgate/gw9/status', payload: Buffer.from('offline'), qos: 1, retain: true })
  assert.equal(cfg.birth.payload, 'online')
  assert.equal(cfg.birth.retain, true)
})

test('credentials come from files: password, CA, client certificate, key and passphrase', () => {
  const cfg = uplinkOptions(uplinkSchema.parse({
    name: 'c',
    url: 'mqtts://h:8883',
    username: 'Token',
    password_file: '/s/pw',
    tls: { ca_file: '/s/ca.pem', cert_file: '/s/cert.pem', key_file: '/s/key.pem', passphrase_file: '/s/pass', servername: 'broker.example' },
  }))
  const o = clientOptions(cfg, 'gw', readFile) as ReturnType<typeof clientOptions> & { passphrase?: string }
  assert.equal(o.username, 'Token')
  assert.equal(o.password, 'device-token-123')
  assert.equal(String(o.ca), 'CA')
  assert.equal(String(o.cert), 'CERT')
  assert.equal(String(o.key), 'KEY')
  assert.equal(o.passphrase, 'hunter2')
  assert.equal(o.servername, 'broker.example')
})

test('an explicit password (the environment override) wins over the password file', () => {
  const { config } = loadConfig(null, {
    FIELDGATE_UPLINKS__0__NAME: 'c',
    FIELDGATE_UPLINKS__0__URL: 'mqtt://127.0.0.1:1',
    FIELDGATE_UPLINKS__0__PASSWORD_FILE: '/s/pw',
    FIELDGATE_UPLINKS__0__PASSWORD: '"from-env"',
  })
  const cfg = config.uplinks[0]
  assert.ok(cfg)
  assert.equal(clientOptions(uplinkOptions(cfg), 'gw', readFile).password, 'from-env')
})

test('an unreadable credential file is a coded error naming the uplink, the key and the path', () => {
  const cfg = uplinkOptions(uplinkSchema.parse({ name: 'c', url: 'mqtts://h', tls: { ca_file: '/nope/ca.pem' } }))
  assert.throws(
    () => clientOptions(cfg, 'gw', readFile),
    (err: unknown) => isFieldgateError(err, 'BRIDGE_CONNECT_FAILED') && /uplink "c".*tls\.ca_file.*\/nope\/ca\.pem/.test(err.message),
  )
})

test('durations are accepted with units and keep-alive is sent in whole seconds', () => {
  const cfg = uplinkOptions(uplinkSchema.parse({ name: 'c', url: 'mqtt://h', keepalive: '2500ms', session_expiry: '1h', protocol_version: 5, backoff: { min: '200ms', max: '5s' } }))
  const o = clientOptions(cfg, 'gw', readFile)
  assert.equal(o.keepalive, 3)
  assert.deepEqual(o.properties, { sessionExpiryInterval: 3600 })
  assert.deepEqual(cfg.backoff, { min: 200, max: 5000 })
})

test('the failover list follows the main url without repeating it', () => {
  const cfg = uplinkOptions(uplinkSchema.parse({ name: 'c', url: 'mqtt://a:1', servers: ['mqtt://a:1', 'wss://b/mqtt', 'ws://c:8080'] }))
  assert.deepEqual(serverList(cfg), ['mqtt://a:1', 'wss://b/mqtt', 'ws://c:8080'])
})

test('the schema refuses unknown keys, other URL schemes, a certificate without its key and a backoff minimum above the cap', () => {
  assert.equal(uplinkSchema.safeParse({ name: 'c', url: 'mqtt://h', colour: 'red' }).success, false)
  assert.equal(uplinkSchema.safeParse({ name: 'c', url: 'http://h' }).success, false)
  assert.equal(uplinkSchema.safeParse({ name: 'c', url: 'mqtts://h', tls: { cert_file: '/c' } }).success, false)
  assert.equal(uplinkSchema.safeParse({ name: 'c', url: 'mqtt://h', backoff: { min: 5000, max: 1000 } }).success, false)
  assert.equal(uplinkSchema.safeParse({ name: 'c', url: 'mqtt://h', forward: [{ filter: '#', qos: 3 }] }).success, false)
})

test('rule topics are checked when the config is read: templates, wildcards and filters', () => {
  const bad = (rule: Record<string, unknown>, key: 'forward' | 'downlink' = 'forward') => uplinkSchema.safeParse({ name: 'c', url: 'mqtt://h', [key]: [rule] }).success === false
  assert.ok(bad({ filter: '#', remote: 'x/{host}' }), 'unknown placeholder')
  assert.ok(bad({ filter: '#', remote: 'x/+' }), 'wildcard in a remote topic')
  assert.ok(bad({ filter: 'a/#/b' }), '# not last')
  assert.ok(bad({ filter: 'a/b+' }), '+ not a whole level')
  assert.ok(bad({ remote_filter: 'cmd/#', local: 'x/#' }, 'downlink'), 'wildcard in a local topic')
  assert.equal(uplinkSchema.safeParse({ name: 'c', url: 'mqtt://h', forward: [{ filter: 'a/+/#', remote: 'up/{gateway}/{2}/{topic}' }] }).success, true)
})

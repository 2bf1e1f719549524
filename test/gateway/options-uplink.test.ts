import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import { uplinkOptions } from '../../src/gateway/options/uplink.ts'

test('every [[uplinks]] key the bridge uses reaches it under its option name, durations in ms', () => {
  const c = validateConfig({
    uplinks: [
      {
        name: 'cloud',
        url: 'mqtts://user@a.example:8883',
        servers: ['mqtts://b.example:8883'],
        client_id: 'gw-7',
        protocol_version: 4,
        clean: false,
        session_expiry: '1h',
        username: 'Token',
        password_file: '/etc/fg/pw',
        password: 'from-env',
        tls: { ca_file: '/etc/fg/ca.pem', cert_file: '/etc/fg/c.pem', key_file: '/etc/fg/k.pem', passphrase_file: '/etc/fg/pass', reject_unauthorized: false, servername: 'broker.example' },
        keepalive: '45s',
        connect_timeout: '7s',
        backoff: { min: '2s', max: '90s' },
        will: { topic: 'site/gw-7/state', payload: 'gone', qos: 0, retain: false },
        birth: { payload: 'here', qos: 2 },
        forward: [{ filter: 'plant/#', remote: 'up/{gateway}/{topic}', strip_prefix: 'plant/', qos: 1, retain: false, format: 'envelope', metadata: { site: 'north' } }],
        downlink: [{ remote_filter: 'down/gw-7/#', local: 'cmd/{topic}', strip_prefix: 'down/gw-7/', qos: 2, retain: 'message' }],
        window: 7,
        replay_rate: 5,
        replay_mode: 'live-first',
        probe: { interval: '20s', timeout: '3s', topic: 'probe/gw-7' },
      },
    ],
  })
  const u = c.uplinks[0]
  assert.ok(u)
  assert.deepEqual(uplinkOptions(u), {
    name: 'cloud',
    url: 'mqtts://user@a.example:8883',
    servers: ['mqtts://b.example:8883'],
    clientId: 'gw-7',
    protocolVersion: 4,
    clean: false,
    sessionExpiry: 3_600_000,
    username: 'Token',
    passwordFile: '/etc/fg/pw',
    password: 'from-env',
    tls: { caFile: '/etc/fg/ca.pem', certFile: '/etc/fg/c.pem', keyFile: '/etc/fg/k.pem', passphraseFile: '/etc/fg/pass', rejectUnauthorized: false, servername: 'broker.example' },
    keepalive: 45_000,
    connectTimeout: 7000,
    backoff: { min: 2000, max: 90_000 },
    will: { topic: 'site/gw-7/state', payload: 'gone', qos: 0, retain: false },
    birth: { topic: undefined, payload: 'here', qos: 2, retain: true },
    forward: [{ filter: 'plant/#', remote: 'up/{gateway}/{topic}', stripPrefix: 'plant/', qos: 1, retain: false, format: 'envelope', metadata: { site: 'north' } }],
    downlink: [{ remoteFilter: 'down/gw-7/#', local: 'cmd/{topic}', stripPrefix: 'down/gw-7/', qos: 2, retain: 'message' }],
    probe: { interval: 20_000, timeout: 3000, topic: 'probe/gw-7' },
  })
})

test('an uplink with only a name and a url gets the documented defaults, and no TLS table means no TLS options', () => {
  const u = validateConfig({ uplinks: [{ name: 'c', url: 'mqtt://h:1883' }] }).uplinks[0]
  assert.ok(u)
  const o = uplinkOptions(u)
  assert.equal(o.tls, undefined)
  assert.equal(o.clientId, undefined)
  assert.equal(o.passwordFile, undefined)
  assert.deepEqual(
    { protocolVersion: o.protocolVersion, clean: o.clean, sessionExpiry: o.sessionExpiry, keepalive: o.keepalive, connectTimeout: o.connectTimeout, backoff: o.backoff },
    { protocolVersion: 5, clean: true, sessionExpiry: 0, keepalive: 30_000, connectTimeout: 10_000, backoff: { min: 1000, max: 60_000 } },
  )
  assert.deepEqual(o.will, { topic: undefined, payload: 'offline', qos: 1, retain: true })
  assert.deepEqual(o.birth, { topic: undefined, payload: 'online', qos: 1, retain: true })
  assert.deepEqual(o.probe, { interval: 15_000, timeout: 5000, topic: undefined })
  assert.deepEqual([o.forward, o.downlink, o.servers], [[], [], []])
})

test('a forward rule without strip_prefix keeps the local topic whole, and the rule defaults keep the QoS and retain of each message', () => {
  const u = validateConfig({ uplinks: [{ name: 'c', url: 'mqtt://h', forward: [{ filter: 'a/#' }], downlink: [{ remote_filter: 'b/#' }] }] }).uplinks[0]
  assert.ok(u)
  const o = uplinkOptions(u)
  assert.deepEqual(o.forward, [{ filter: 'a/#', remote: '{topic}', stripPrefix: undefined, qos: 'message', retain: 'message', format: 'raw', metadata: {} }])
  assert.deepEqual(o.downlink, [{ remoteFilter: 'b/#', local: '{topic}', stripPrefix: undefined, qos: 1, retain: false }])
})

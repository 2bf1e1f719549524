import assert from 'node:assert/strict'
import { isDeepStrictEqual } from 'node:util'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import { brokerSettings, listenerOptions } from '../../src/gateway/options/broker.ts'

const tls = {
  cert_file: '/etc/fg/server.pem',
  key_file: '/etc/fg/server.key',
  ca_file: '/etc/fg/ca.pem',
  passphrase_file: '/etc/fg/pass',
  require_client_cert: true,
  use_cn_as_username: true,
  crl_file: '/etc/fg/crl.pem',
  min_tls_version: 'TLSv1.3',
  ciphers: 'TLS_AES_128_GCM_SHA256',
}

test('every listener key reaches the broker under its option name, the TLS table included', () => {
  const c = validateConfig({
    broker: {
      listeners: [
        { name: 'lan', protocol: 'mqtt', host: '0.0.0.0', port: 1883, allow_anonymous: true },
        { name: 'lan-tls', protocol: 'wss', host: '10.0.0.2', port: 8884, path: '/ws', tls },
      ],
    },
  })
  assert.deepEqual(brokerSettings(c.broker).listeners, [
    { name: 'lan', protocol: 'mqtt', host: '0.0.0.0', port: 1883, path: '/mqtt', allowAnonymous: true, tls: undefined },
    {
      name: 'lan-tls',
      protocol: 'wss',
      host: '10.0.0.2',
      port: 8884,
      path: '/ws',
      allowAnonymous: undefined,
      tls: {
        certFile: '/etc/fg/server.pem',
        keyFile: '/etc/fg/server.key',
        caFile: '/etc/fg/ca.pem',
        passphraseFile: '/etc/fg/pass',
        requireClientCert: true,
        useCnAsUsername: true,
        crlFile: '/etc/fg/crl.pem',
        minVersion: 'TLSv1.3',
        ciphers: 'TLS_AES_128_GCM_SHA256',
      },
    },
  ])
})

test('the same listener entry maps to deeply equal options and a changed one does not (a reload keeps only unchanged listeners)', () => {
  const a = validateConfig({ broker: { listeners: [{ port: 1883 }, { protocol: 'mqtts', port: 8883, tls }] } }).broker.listeners
  const b = validateConfig({ broker: { listeners: [{ port: 1883 }, { protocol: 'mqtts', port: 8883, tls: { ...tls, crl_file: '/etc/fg/crl2.pem' } }] } }).broker.listeners
  assert.ok(a[0] && a[1] && b[0] && b[1])
  assert.ok(isDeepStrictEqual(listenerOptions(a[0]), listenerOptions(b[0])))
  assert.ok(!isDeepStrictEqual(listenerOptions(a[1]), listenerOptions(b[1])))
})

test('[broker.auth] and sys_interval reach the broker and its security layer, durations in ms', () => {
  const c = validateConfig({
    broker: {
      sys_interval: '30s',
      auth: {
        password_file: '/etc/fg/passwd',
        tokens_file: '/etc/fg/tokens',
        acl_file: '/etc/fg/acl.toml',
        lockout_failures: 5,
        failure_window: '2m',
        max_password_checks: 1,
        max_waiting_logins_per_address: 8,
      },
    },
  })
  const s = brokerSettings(c.broker)
  assert.equal(s.sysInterval, 30_000)
  assert.deepEqual(s.auth, {
    passwordFile: '/etc/fg/passwd',
    tokensFile: '/etc/fg/tokens',
    aclFile: '/etc/fg/acl.toml',
    lockoutFailures: 5,
    failureWindow: 120_000,
    maxPasswordChecks: 1,
    maxWaitingLoginsPerAddress: 8,
  })
})

test('an empty [broker] gives one loopback listener, no auth files and the documented throttles', () => {
  const s = brokerSettings(validateConfig({}).broker)
  assert.deepEqual(s.listeners, [{ name: undefined, protocol: 'mqtt', host: '127.0.0.1', port: 1883, path: '/mqtt', allowAnonymous: undefined, tls: undefined }])
  assert.equal(s.sysInterval, 10_000)
  assert.deepEqual(s.auth, {
    passwordFile: undefined,
    tokensFile: undefined,
    aclFile: undefined,
    lockoutFailures: 30,
    failureWindow: 600_000,
    maxPasswordChecks: 2,
    maxWaitingLoginsPerAddress: 4,
  })
})

test('every [broker.limits] key reaches the broker under its option name, sizes in bytes and durations in ms', () => {
  const c = validateConfig({
    broker: {
      limits: {
        max_connections: 500,
        max_pending_per_address: 3,
        max_connections_per_address: 40,
        per_address_exempt: ['10.0.0.1'],
        connect_timeout: '4s',
        max_packet_size: '256KB',
        max_inflight: 20,
        max_queued_messages: 50,
        max_queued_bytes: '2MB',
        publish_rate: 12.5,
        publish_burst: 30,
        max_subscriptions: 60,
        max_topic_length: 200,
        max_topic_levels: 9,
        max_keepalive: 300,
        max_session_expiry: '1d',
        max_retained: 70,
      },
    },
  })
  assert.deepEqual(brokerSettings(c.broker).limits, {
    maxConnections: 500,
    maxPendingPerAddress: 3,
    maxConnectionsPerAddress: 40,
    perAddressExempt: ['10.0.0.1'],
    connectTimeout: 4000,
    maxPacketSize: 256_000,
    maxInflight: 20,
    maxQueuedMessages: 50,
    maxQueuedBytes: 2_000_000,
    publishRate: 12.5,
    publishBurst: 30,
    maxSubscriptions: 60,
    maxTopicLength: 200,
    maxTopicLevels: 9,
    maxKeepalive: 300,
    maxSessionExpiry: 86_400_000,
    maxRetained: 70,
  })
})

test('an empty [broker.limits] gives the broker the documented defaults', () => {
  assert.deepEqual(brokerSettings(validateConfig({}).broker).limits, {
    maxConnections: 10_000,
    maxPendingPerAddress: 16,
    maxConnectionsPerAddress: 1000,
    perAddressExempt: ['127.0.0.1', '::1'],
    connectTimeout: 10_000,
    maxPacketSize: 1_048_576,
    maxInflight: 64,
    maxQueuedMessages: 1000,
    maxQueuedBytes: 16_000_000,
    publishRate: 0,
    publishBurst: 0,
    maxSubscriptions: 1000,
    maxTopicLength: 1024,
    maxTopicLevels: 32,
    maxKeepalive: 65535,
    maxSessionExpiry: 7 * 86_400_000,
    maxRetained: 100_000,
  })
})

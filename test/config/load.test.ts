import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { loadConfig } from '../../src/config/index.ts'
import { isFieldgateError } from '../../src/core/errors.ts'
import { tempDir } from '../helpers/tmp.ts'

test('defaults listen on loopback only', () => {
  const { config } = loadConfig(null, {})
  assert.equal(config.broker.listeners.length, 1)
  assert.equal(config.broker.listeners[0]?.host, '127.0.0.1')
  assert.equal(config.status.host, '127.0.0.1')
})

test('environment overrides any key by its path joined with double underscores', () => {
  const { config, overrides } = loadConfig(null, { FIELDGATE_BROKER__LIMITS__MAX_INFLIGHT: '5', FIELDGATE_GATEWAY__ID: 'site-7' })
  assert.equal(config.broker.limits.max_inflight, 5)
  assert.equal(config.gateway.id, 'site-7')
  assert.deepEqual(overrides.map((o) => o.variable).sort(), ['FIELDGATE_BROKER__LIMITS__MAX_INFLIGHT', 'FIELDGATE_GATEWAY__ID'])
})

test('an unknown key is an error naming the key, the file and the line', () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'gw.toml')
    writeFileSync(file, '[gateway]\nid = "a"\n\n[[broker.listeners]]\nport = 1884\nprot = "mqtt"\n')
    assert.throws(
      () => loadConfig(file, {}),
      (err: unknown) => isFieldgateError(err, 'CONFIG_INVALID') && /broker\.listeners\[0\]\.prot/.test(err.message) && err.message.includes(`${file}:6`),
    )
  } finally {
    cleanup()
  }
})

test('durations and sizes accept units', () => {
  const { config } = loadConfig(null, { FIELDGATE_STORAGE__MAX_AGE: '"2h"', FIELDGATE_STORAGE__MAX_BYTES: '"64MB"' })
  assert.equal(config.storage.max_age, 7_200_000)
  assert.equal(config.storage.max_bytes, 64_000_000)
})

function withFile(text: string, fn: (file: string) => void): void {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'gw.toml')
    writeFileSync(file, text)
    fn(file)
  } finally {
    cleanup()
  }
}

const invalid = (re: RegExp) => (err: unknown) => isFieldgateError(err, 'CONFIG_INVALID') && re.test(err.message)

test('a value of the wrong kind names the key, the file, the line and what is allowed', () => {
  withFile('[gateway]\nid = "a"\n\n[storage]\npolicy = "keep-all"\n', (file) => {
    assert.throws(() => loadConfig(file, {}), invalid(new RegExp(`storage\\.policy \\(${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5\\).*"drop-oldest"\\|"reject-new"`)))
  })
})

test('every problem is reported at once, each with its own line', () => {
  withFile('[status]\nport = 70000\n\n[[broker.listeners]]\nport = 1884\n\n[[broker.listeners]]\nport = "x"\n', (file) => {
    assert.throws(
      () => loadConfig(file, {}),
      (err: unknown) =>
        isFieldgateError(err, 'CONFIG_INVALID') &&
        err.message.includes(`status.port (${file}:2)`) &&
        err.message.includes(`broker.listeners[1].port (${file}:8)`) &&
        (err.details.problems as unknown[]).length === 2,
    )
  })
})

test('an unknown key in the second element of an array of tables points at its own line', () => {
  withFile('[[broker.listeners]]\nport = 1884\n\n[[broker.listeners]]\nport = 1885\nhots = "0.0.0.0"\n', (file) => {
    assert.throws(() => loadConfig(file, {}), invalid(new RegExp(`broker\\.listeners\\[1\\]\\.hots \\(.*:6\\): unknown key "hots"`)))
  })
})

test('an unknown top-level section is an error', () => {
  withFile('[gateway]\nid = "a"\n\n[brokr]\nport = 1\n', (file) => {
    assert.throws(() => loadConfig(file, {}), invalid(/brokr \(.*:4\): unknown key "brokr"/))
  })
})

test('broken TOML is a parse error naming the file and the line; a missing file says it cannot be read', () => {
  withFile('[gateway]\nid = "a"\nport = = 3\n', (file) => {
    assert.throws(() => loadConfig(file, {}), (err: unknown) => isFieldgateError(err, 'CONFIG_PARSE') && err.message.startsWith(`${file}:3:`))
    assert.throws(() => loadConfig(`${file}.missing`, {}), (err: unknown) => isFieldgateError(err, 'CONFIG_NOT_FOUND') && err.message.includes(`${file}.missing`))
  })
})

test('an environment override wins over the file and a bad one names the variable', () => {
  withFile('[status]\nport = 8081\n', (file) => {
    assert.equal(loadConfig(file, { FIELDGATE_STATUS__PORT: '9090' }).config.status.port, 9090)
    assert.throws(() => loadConfig(file, { FIELDGATE_STATUS__PORT: 'eighty' }), invalid(/status\.port \(environment\).*FIELDGATE_STATUS__PORT/))
    assert.throws(() => loadConfig(file, { FIELDGATE_STATUS__PROT: '1' }), invalid(/status\.prot \(environment\): unknown key.*FIELDGATE_STATUS__PROT/))
    assert.throws(() => loadConfig(file, { FIELDGATE_STATSU__PORT: '1' }), invalid(/statsu \(environment\).*FIELDGATE_STATSU__PORT/))
  })
})

test('environment overrides reach array elements and read TOML values, falling back to plain strings', () => {
  const { config } = loadConfig(null, {
    FIELDGATE_BROKER__LISTENERS__0__PORT: '1999',
    FIELDGATE_BROKER__LISTENERS__0__HOST: '0.0.0.0',
    FIELDGATE_BROKER__LISTENERS__0__ALLOW_ANONYMOUS: 'false',
    FIELDGATE_UPLINKS__0__NAME: 'cloud',
    FIELDGATE_UPLINKS__0__URL: 'mqtts://cloud.example:8883',
    FIELDGATE_UPLINKS__0__PASSWORD: 's3cret with spaces',
    FIELDGATE_UPLINKS__0__SERVERS: '["mqtts://b.example:8883"]',
  })
  assert.deepEqual([config.broker.listeners[0]?.port, config.broker.listeners[0]?.host, config.broker.listeners[0]?.allow_anonymous], [1999, '0.0.0.0', false])
  assert.equal(config.uplinks[0]?.password, 's3cret with spaces')
  assert.deepEqual(config.uplinks[0]?.servers, ['mqtts://b.example:8883'])
})

test('process settings such as FIELDGATE_TEMPLATES_DIR and FIELDGATE_NATIVE_DIR are not taken for keys', () => {
  const { overrides } = loadConfig(null, { FIELDGATE_CONFIG: '/x.toml', FIELDGATE_TEMPLATES_DIR: '/t', FIELDGATE_NATIVE_DIR: '/n', FIELDGATE_GATEWAY__ID: 'g1' })
  assert.deepEqual(overrides.map((o) => o.variable), ['FIELDGATE_GATEWAY__ID'])
})

test('secrets stay in files: the config holds only their paths', () => {
  withFile('[status]\ntoken_file = "/etc/fieldgate/status.token"\n[status.basic_auth]\nusername = "tech"\npassword_file = "/etc/fieldgate/status.pw"\n', (file) => {
    const { config } = loadConfig(file, {})
    assert.equal(config.status.token_file, '/etc/fieldgate/status.token')
    assert.deepEqual(config.status.basic_auth, { username: 'tech', password_file: '/etc/fieldgate/status.pw' })
  })
})

test('the example device config validates: LAN listener without anonymous access, status page on the LAN with a token', () => {
  const { config } = loadConfig(join(import.meta.dirname, '../../hardware/fieldgate.example.toml'), {})
  const lan = config.broker.listeners.find((l) => l.host === '0.0.0.0')
  assert.equal(lan?.allow_anonymous, false)
  assert.ok(config.broker.auth.password_file)
  assert.equal(config.status.host, '0.0.0.0')
  assert.ok(config.status.token_file)
})

test('an override that looks like a number or a boolean stays a string where the key is a string', () => {
  const { config } = loadConfig(null, { FIELDGATE_UPLINKS__0__NAME: 'c', FIELDGATE_UPLINKS__0__URL: 'mqtt://h', FIELDGATE_UPLINKS__0__PASSWORD: '123456', FIELDGATE_GATEWAY__ID: '42' })
  assert.equal(config.uplinks[0]?.password, '123456')
  assert.equal(config.gateway.id, '42')
  assert.throws(() => loadConfig(null, { FIELDGATE_STATUS__PORT: 'true' }), invalid(/status\.port \(environment\)/))
})

test('a key in a nested array of tables is found on its line, counted within its own parent element', () => {
  const text = [
    '[[devices]]', 'id = "a"', 'driver = "simulated"',
    '[[devices.points]]', 'name = "t"',
    '[[devices.points]]', 'name = "h"',
    '[[devices]]', 'id = "b"', 'driver = "simulated"',
    '[[devices.points]]', 'name = "p"', 'kindd = "counter"',
  ].join('\n')
  withFile(text, (file) => {
    assert.throws(() => loadConfig(file, {}), invalid(new RegExp(`devices\\[1\\]\\.points\\[0\\]\\.kindd \\(.*:13\\)`)))
  })
})

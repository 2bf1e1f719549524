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

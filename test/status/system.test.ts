import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { diskUsage, scrub, socTemperature, systemSampler } from '../../src/status/index.ts'
import { tempDir } from '../helpers/tmp.ts'

test('the SoC temperature is the hottest thermal zone in degrees, and null where there is none', () => {
  const { dir, cleanup } = tempDir()
  try {
    assert.equal(socTemperature(join(dir, 'absent')), null)
    for (const [zone, milli] of [['thermal_zone0', '48312'], ['thermal_zone1', '51500'], ['cooling_device0', '99000']] as const) {
      mkdirSync(join(dir, zone))
      writeFileSync(join(dir, zone, 'temp'), `${milli}\n`)
    }
    assert.equal(socTemperature(dir), 51.5)
  } finally {
    cleanup()
  }
})

test('disk usage of a data dir that does not exist yet is measured on its nearest existing parent', () => {
  const { dir, cleanup } = tempDir()
  try {
    const d = diskUsage(join(dir, 'not', 'yet'))
    assert.ok(d)
    assert.equal(d.path, join(dir, 'not', 'yet'))
    assert.ok(d.total > 0 && d.free > 0 && d.free <= d.total)
    const s = systemSampler(dir, join(dir, 'no-thermal'))()
    assert.equal(s.temperature_c, null)
    assert.equal(s.load.length, 3)
    assert.ok(s.memory.total >= s.memory.free)
  } finally {
    cleanup()
  }
})

test('scrub masks secret-named keys at any depth and credentials in URLs, and keeps everything else', () => {
  const shared = { n: 1 }
  const input = {
    password: 'p',
    passphrase_file: '/etc/x',
    apiKey: 'k',
    key: 'k2',
    monkey: 'banana',
    url: 'mqtts://user:pa55@host:8883/x',
    list: [{ token: 't', ok: true }],
    a: shared,
    b: shared,
    big: 12n,
  }
  assert.deepEqual(scrub(input), {
    password: '***',
    passphrase_file: '***',
    apiKey: '***',
    key: '***',
    monkey: 'banana',
    url: 'mqtts://user:***@host:8883/x',
    list: [{ token: '***', ok: true }],
    a: { n: 1 },
    b: { n: 1 },
    big: '12',
  })
})

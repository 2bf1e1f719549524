import assert from 'node:assert/strict'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { fingerprint, inventory, marksOffline, type InventoryFacts } from '../../src/fleet/inventory.ts'
import { lastUpdate } from '../../src/gateway/update.ts'
import { GUARD_NAME } from '../../src/update/files.ts'
import { commitTrial, installUpdate } from '../../src/update/install.ts'
import { manifestFor, newKey } from '../update/helpers.ts'
import { tempDir } from '../helpers/tmp.ts'

const facts = (update: InventoryFacts['update']): InventoryFacts => ({
  version: '0.2.0',
  build: { node: 'v20', executable: true },
  board: { arch: 'x64', platform: 'linux', model: null, hostname: 'h' },
  startedAt: 0,
  parts: {},
  backlog: {},
  update,
})
const config = { hash: 'h', source: 'file' as const, committedAt: null }

test('the inventory carries the last update outcome (version now, previous version, outcome, reason, time) without credentials, and a new outcome republishes it at once', () => {
  const rolled = { outcome: 'rolled-back' as const, version: '0.3.0', previousVersion: '0.2.0', at: '2026-12-06T17:00:00Z', reason: 'not healthy within 120000 ms: waiting for uplink cloud backoff (connect mqtt://gw:s3cret@broker.example.com:1883 refused)' }
  const inv = inventory('site-a', true, facts(rolled), config, 1000, 5)
  assert.deepEqual(Object.keys(inv.update as object).sort(), ['at', 'outcome', 'previous_version', 'reason', 'running', 'version'])
  const u = inv.update as Record<string, string>
  assert.equal(u.running, '0.2.0')
  assert.equal(u.version, '0.3.0')
  assert.equal(u.previous_version, '0.2.0')
  assert.equal(u.outcome, 'rolled-back')
  assert.equal(u.at, '2026-12-06T17:00:00Z')
  assert.match(u.reason ?? '', /^not healthy within 120000 ms/)
  assert.ok(!JSON.stringify(inv).includes('s3cret'))
  assert.equal(inventory('site-a', true, facts(null), config, 1000, 5).update, null)
  assert.notEqual(fingerprint(inv), fingerprint(inventory('site-a', true, facts(null), config, 1000, 5)))
})

test('lastUpdate reads the outcome a commit wrote beside the executable', async () => {
  const { dir, cleanup } = tempDir('fieldgate-inv-')
  try {
    const exe = join(dir, 'fieldgate')
    writeFileSync(exe, '#!/bin/sh\necho old\n', { mode: 0o755 })
    copyFileSync(resolve(import.meta.dirname, '../../hardware/systemd', GUARD_NAME), join(dir, GUARD_NAME))
    assert.equal(lastUpdate(exe), null)
    const bytes = Buffer.from('#!/bin/sh\necho new\n')
    const file = join(dir, 'download.bin')
    writeFileSync(file, bytes)
    const key = newKey()
    const m = manifestFor(bytes, key.priv, { version: '0.2.0' })
    await installUpdate(file, m, { exe, runningVersion: '0.1.0' })
    await commitTrial(exe, { version: '0.2.0', previousVersion: '0.1.0', installedAt: '' }, 'healthy 300 ms after start')
    const u = lastUpdate(exe)
    assert.equal(u?.outcome, 'committed')
    assert.equal(u?.version, '0.2.0')
    assert.equal(u?.previousVersion, '0.1.0')
    assert.equal(u?.reason, 'healthy 300 ms after start')
  } finally {
    cleanup()
  }
})

test('an inventory marked offline (the Last Will) is told apart from one online and from other payloads', () => {
  assert.equal(marksOffline(Buffer.from(JSON.stringify(inventory('site-a', false, facts(null), config, 1000, 4)))), true)
  assert.equal(marksOffline(Buffer.from(JSON.stringify(inventory('site-a', true, facts(null), config, 1000, 4)))), false)
  for (const other of ['', 'offline', 'null', '[]', '{"online":"false"}', '{"online":0}', '{']) assert.equal(marksOffline(Buffer.from(other)), false, other)
})

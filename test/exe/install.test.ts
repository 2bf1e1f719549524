import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { tempDir } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const INSTALL = join(ROOT, 'hardware/install.sh')
const UNIT = join(ROOT, 'hardware/systemd/fieldgate.service')

test('install.sh parses with bash -n and passes shellcheck', { timeout: 30_000 }, async () => {
  await run('bash', ['-n', INSTALL])
  await run('shellcheck', [INSTALL], { timeout: 25_000 })
})

test('the systemd unit has no unknown keys and carries the hardening options', { timeout: 30_000 }, async () => {
  const { readFileSync } = await import('node:fs')
  const unit = readFileSync(UNIT, 'utf8')
  for (const line of ['Type=notify', 'NotifyAccess=all', 'WatchdogSec=', 'User=fieldgate', 'StateDirectory=fieldgate', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'SupplementaryGroups=dialout', 'ReadWritePaths=/var/lib/fieldgate', 'KillSignal=SIGTERM', 'TimeoutStopSec=']) {
    assert.ok(unit.includes(line), line)
  }
  const { dir, cleanup } = tempDir()
  try {
    copyFileSync(UNIT, join(dir, 'fieldgate.service'))
    const r = await run('systemd-analyze', ['verify', join(dir, 'fieldgate.service')], { timeout: 25_000 }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /Unknown (key|section)|Invalid|Failed to parse/)
  } finally {
    cleanup()
  }
})

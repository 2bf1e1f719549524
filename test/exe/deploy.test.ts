import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe } from '../../scripts/build-exe.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const INSTALL = join(ROOT, 'hardware/install.sh')
const BUILD = join(ROOT, 'dist/linux-x64')
/** The environment without FIELDGATE_* (each would be read as a config override). */
const cleanEnv = (): Record<string, string> => Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('FIELDGATE_') && e[1] !== undefined))

/** The release tarball unpacked, as docs/deployment.md ships it to a device. */
let RELEASE = ''
let releaseCleanup = (): void => undefined

before(async () => {
  // x64 only: these tests never need the arm emulator. Cached by content hash in build/cache.
  const [r] = await buildExe(['x64'], { package: true })
  const t = tempDir('fieldgate-release-')
  releaseCleanup = t.cleanup
  chmodSync(t.dir, 0o755)
  await run('tar', ['-xzf', r?.tarball ?? '', '-C', t.dir])
  RELEASE = join(t.dir, readdirSync(t.dir)[0] ?? '')
}, { timeout: 240_000 })

after(() => releaseCleanup())

interface Unit {
  user: string
  execStart: string[]
  env: Record<string, string>
  workingDirectory: string
  type: string
}

function parseUnit(text: string): Unit {
  const values = (key: string): string[] => text.split('\n').filter((l) => l.startsWith(`${key}=`)).map((l) => l.slice(key.length + 1))
  const env: Record<string, string> = {}
  for (const e of values('Environment')) {
    const i = e.indexOf('=')
    env[e.slice(0, i)] = e.slice(i + 1)
  }
  return { user: values('User')[0] ?? '', execStart: (values('ExecStart')[0] ?? '').split(/\s+/), env, workingDirectory: values('WorkingDirectory')[0] ?? '', type: values('Type')[0] ?? '' }
}

test('install.sh --root into a scratch root, then the installed unit\'s ExecStart, as the installed user, on the installed config, serves /healthz', { timeout: 120_000 }, async () => {
  const { dir: root, cleanup } = tempDir('fieldgate-root-')
  chmodSync(root, 0o755)
  let child: ReturnType<typeof spawn> | null = null
  try {
    // The documented path: the release tarball's own install.sh, which finds linux-x64/ beside itself.
    const { stdout } = await run(join(RELEASE, 'install.sh'), ['--root', root], { timeout: 60_000 })
    assert.match(stdout, new RegExp(`installed under ${root}; not checked`))
    assert.doesNotMatch(stdout, /(?<!not )started/)

    const unitFile = join(root, 'etc/systemd/system/fieldgate.service')
    const unit = parseUnit(readFileSync(unitFile, 'utf8'))
    assert.equal(unit.type, 'notify')
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith(`${unit.user}:`))
    assert.ok(passwd, `user ${unit.user} not in ${root}/etc/passwd`)
    const [, , uidText, gidText] = (passwd as string).split(':')
    const [uid, gid] = [Number(uidText), Number(gidText)]
    assert.ok(uid > 0 && gid > 0)

    // Paths of the target system, seen from here under the scratch root.
    const inRoot = (p: string): string => (p.startsWith('/') ? join(root, p) : p)
    const installed = join(root, 'usr/local/bin/fieldgate')
    const exe = inRoot(readlinkSync(installed))
    assert.equal(exe, join(root, 'usr/local/lib/fieldgate/fieldgate'))
    assert.equal(unit.execStart[0], '/usr/local/bin/fieldgate')
    const args = unit.execStart.slice(1).map(inRoot)
    for (const f of ['classic-level.node', 'serialport.node']) assert.ok(existsSync(join(root, 'usr/local/lib/fieldgate/native', f)), f)
    assert.ok(existsSync(join(root, 'usr/local/share/fieldgate/devices/eastron-sdm120.toml')))
    for (const f of ['fieldgate.toml', 'passwd', 'status.token']) {
      const st = statSync(join(root, 'etc/fieldgate', f))
      assert.equal(st.mode & 0o777, 0o640, f)
      assert.equal(st.gid, gid, `${f} is not in the service group`)
    }
    assert.equal(statSync(join(root, 'var/lib/fieldgate')).uid, uid)

    // systemd's part: RuntimeDirectory=fieldgate; the unit's environment with its paths under the root.
    mkdirSync(join(root, 'run/fieldgate'), { recursive: true })
    chownSync(join(root, 'run/fieldgate'), uid, gid)
    const env: Record<string, string> = { PATH: '/usr/bin:/bin' }
    for (const [k, v] of Object.entries(unit.env)) env[k] = inRoot(v)
    // The installed (example) config names target-system paths and the usual ports on the LAN; a test
    // may only use loopback and 20000-32000, and its files are under the scratch root.
    const [mqttLocal, mqttLan, statusPort] = [await freePort(), await freePort(), await freePort()]
    Object.assign(env, {
      FIELDGATE_BROKER__LISTENERS__0__PORT: String(mqttLocal),
      FIELDGATE_BROKER__LISTENERS__1__PORT: String(mqttLan),
      FIELDGATE_BROKER__LISTENERS__1__HOST: '127.0.0.1',
      FIELDGATE_STATUS__HOST: '127.0.0.1',
      FIELDGATE_STATUS__PORT: String(statusPort),
      FIELDGATE_BROKER__AUTH__PASSWORD_FILE: join(root, 'etc/fieldgate/passwd'),
      FIELDGATE_STATUS__TOKEN_FILE: join(root, 'etc/fieldgate/status.token'),
    })
    const cwd = inRoot(unit.workingDirectory)

    // `fieldgate check` on the fresh install passes as the service user (no missing passwd any more).
    const check = await run(exe, ['check', ...args.slice(1)], { cwd, env, uid, gid, timeout: 30_000 }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`check failed on the fresh install:\n${err.stdout ?? ''}${err.stderr ?? ''}`)
    })
    assert.match(check.stdout, /all \d+ checks passed/)

    const output: string[] = []
    child = spawn(exe, args, { cwd, env, uid, gid, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (d: Buffer) => output.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => output.push(d.toString()))
    const exited = new Promise<number | null>((r) => child?.once('exit', (code) => r(code)))
    await waitFor(async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status === 200, 20_000, 50, `/healthz\n${output.join('')}`)
    // The LAN listener admits nobody until users are added with fieldgate passwd; local tools connect on loopback.
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttLocal), '-t', 'deploy/test', '-m', 'x', '-q', '1'], { timeout: 10_000 })
    await assert.rejects(run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttLan), '-t', 'deploy/test', '-m', 'x', '-q', '1'], { timeout: 10_000 }))
    child.kill('SIGTERM')
    assert.equal(await exited, 0, output.join(''))
    child = null
    // The unit passes systemd's own verification, with its ExecStart pointing at the installed executable.
    const checked = join(root, 'verify', 'fieldgate.service')
    mkdirSync(join(root, 'verify'))
    writeFileSync(checked, readFileSync(unitFile, 'utf8').replaceAll('/usr/local/lib/fieldgate/', `${join(root, 'usr/local/lib/fieldgate')}/`).replaceAll('/usr/local/bin/fieldgate', exe))
    const v = await run('systemd-analyze', ['verify', checked], { timeout: 30_000 }).catch((err: { stdout?: string; stderr?: string }) => ({ stdout: err.stdout ?? '', stderr: err.stderr ?? '' }))
    assert.equal(`${v.stdout}${v.stderr}`.trim(), '', 'systemd-analyze verify complained')
  } finally {
    child?.kill('SIGKILL')
    cleanup()
  }
})

test('install.sh --root twice keeps the config, the token and the password file (an upgrade)', { timeout: 120_000 }, async () => {
  const { dir: root, cleanup } = tempDir('fieldgate-root-')
  try {
    await run('bash', [INSTALL, '--root', root, '--from', BUILD], { timeout: 60_000 })
    writeFileSync(join(root, 'etc/fieldgate/fieldgate.toml'), '# edited\n')
    const token = readFileSync(join(root, 'etc/fieldgate/status.token'), 'utf8')
    writeFileSync(join(root, 'etc/fieldgate/passwd'), 'alice:x\n')
    const { stdout } = await run('bash', [INSTALL, '--root', root, '--from', BUILD], { timeout: 60_000 })
    assert.match(stdout, /keeping the existing/)
    assert.equal(readFileSync(join(root, 'etc/fieldgate/fieldgate.toml'), 'utf8'), '# edited\n')
    assert.equal(readFileSync(join(root, 'etc/fieldgate/status.token'), 'utf8'), token)
    assert.equal(readFileSync(join(root, 'etc/fieldgate/passwd'), 'utf8'), 'alice:x\n')
    assert.equal(readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').filter((l) => l.startsWith('fieldgate:')).length, 1)
  } finally {
    cleanup()
  }
})

test('the executable has the device templates built in; FIELDGATE_TEMPLATES_DIR adds your own', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    mkdirSync(join(dir, 'mine'))
    writeFileSync(join(dir, 'mine', 'my-sensor.toml'), 'driver = "simulated"\npoll_interval = "1s"\n')
    const cfg = join(dir, 'gw.toml')
    writeFileSync(
      cfg,
      `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${await freePort()}\n` +
        `[[devices]]\nid = "meter"\ntemplate = "eastron-sdm120"\nport = "${join(dir, 'no-such-tty')}"\n[[devices]]\nid = "mine"\ntemplate = "my-sensor"\n`,
    )
    // From a directory with no hardware/ folder: only the built-in copy can answer.
    const r = await run(join(BUILD, 'fieldgate'), ['check', '--config', cfg], { cwd: dir, env: { ...cleanEnv(), FIELDGATE_TEMPLATES_DIR: join(dir, 'mine'), XDG_RUNTIME_DIR: dir }, timeout: 30_000 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
    )
    assert.match(r.stdout, /PASS\s+config\s+valid \(1 listener, 2 devices/)
    const without = await run(join(BUILD, 'fieldgate'), ['check', '--config', cfg], { cwd: dir, env: { ...cleanEnv(), XDG_RUNTIME_DIR: dir }, timeout: 30_000 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
    )
    assert.match(without.stdout, /template "my-sensor" not found .* nor among the built-in ones \(.*eastron-sdm120.*\)/)
  } finally {
    cleanup()
  }
})

test('install.sh --dry-run never says "started", and says a real run starts only after the config check passes', { timeout: 60_000 }, async () => {
  const { stdout } = await run('bash', [INSTALL, '--dry-run', '--from', BUILD], { timeout: 50_000 })
  for (const step of [
    /installing fieldgate \d+\.\d+\.\d+ \(x64\)/,
    /useradd --system .* fieldgate|keeping|usermod -a -G dialout fieldgate/,
    /install -m 0755 .*fieldgate \/usr\/local\/lib\/fieldgate\/\.staged\/fieldgate/,
    /native\/classic-level\.node/,
    /native\/serialport\.node/,
    /ln -sfn \/usr\/local\/lib\/fieldgate\/fieldgate \/usr\/local\/bin\/fieldgate/,
    /fieldgate\.example\.toml \/etc\/fieldgate\/fieldgate\.toml|keeping the existing/,
    /install -m 0644 .*fieldgate\.service \/etc\/systemd\/system\/fieldgate\.service/,
    /systemctl enable fieldgate\.service/,
  ]) {
    assert.match(stdout, step)
  }
  assert.doesNotMatch(stdout, /\bstarted\b/)
  assert.match(stdout, /dry run: .*(a real run would \(re\)start|starts fieldgate only if it passes)/)
})

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { startGateway } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir } from '../helpers/tmp.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const TSX = import.meta.resolve('tsx')
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))

/** Runs the CLI to completion (bounded) and returns its exit code and output. */
function cli(args: string[], cwd: string, timeout = 15_000): Promise<{ code: number | null; out: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const p = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli.ts'), ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    const t = setTimeout(() => {
      p.kill('SIGKILL')
      reject(new Error(`fieldgate ${args.join(' ')} still running after ${timeout} ms:\n${out}`))
    }, timeout)
    p.once('exit', (code) => {
      clearTimeout(t)
      resolve({ code, out, ms: Date.now() - started })
    })
  })
}

function hold(port: number): Promise<Server> {
  const srv = createServer()
  return new Promise((r) => srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => r(srv)))
}

function canBind(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createServer()
    s.once('error', () => r(false))
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => r(true)))
  })
}

const noStack = (out: string): void => assert.doesNotMatch(out, /^\s+at .+:\d+:\d+\)?$/m, `stack trace printed:\n${out}`)

/** The last line on stderr that is not pino JSON: the one line a user reads. */
const userLine = (out: string): string =>
  out
    .split('\n')
    .filter((l) => l.startsWith('fieldgate:'))
    .join('\n')

test('a status port taken after the MQTT listener opened: the gateway closes the listener and exits non-zero with one line', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const mqtt = await freePort()
  const statusPort = await freePort()
  const busy = await hold(statusPort)
  try {
    const gw = await startGateway(dir, `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${statusPort}\n[[broker.listeners]]\nport = ${mqtt}\n`, { env: cleanEnv() })
    const timer = setTimeout(() => void gw.kill('SIGKILL'), 15_000)
    const exit = await gw.exited
    clearTimeout(timer)
    const out = gw.log.join('')
    assert.equal(exit.signal, null, `killed after 15 s: it did not exit by itself\n${out}`)
    assert.notEqual(exit.code, 0)
    noStack(out)
    const line = userLine(out)
    assert.equal(line.split('\n').length, 1, out)
    assert.match(line, new RegExp(`status.*127\\.0\\.0\\.1:${statusPort}.*in use`), out)
    assert.match(line, /pick another status\.port or stop what uses it/, 'the line says what to do')
    assert.ok(await canBind(mqtt), 'the MQTT port is still bound after the failed start')
  } finally {
    busy.close()
    cleanup()
  }
})

test('an MQTT listener port in use: exits non-zero with one line, nothing left open', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const a = await freePort()
  const b = await freePort()
  const statusPort = await freePort()
  const busy = await hold(b)
  try {
    writeFileSync(join(dir, 'gw.toml'), `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${statusPort}\n[[broker.listeners]]\nport = ${a}\n[[broker.listeners]]\nname = "second"\nport = ${b}\n`)
    const r = await cli(['run', '--config', join(dir, 'gw.toml')], dir)
    assert.notEqual(r.code, 0)
    noStack(r.out)
    assert.match(userLine(r.out), /listener "second".*in use/)
    assert.ok(await canBind(a), 'the first listener was left bound')
    assert.ok(await canBind(statusPort))
  } finally {
    busy.close()
    cleanup()
  }
})

test('a serial regex device without pattern is refused by check and by run before anything opens', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const mqtt = await freePort()
  try {
    const file = join(dir, 'gw.toml')
    writeFileSync(
      file,
      `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${mqtt}\n[[devices]]\nid = "meter"\ndriver = "serial"\nport = "/dev/null"\nformat = "regex"\n[[devices.points]]\nname = "v"\n`,
    )
    const c = await cli(['check', '--config', file], dir)
    assert.equal(c.code, 1)
    assert.match(c.out, /devices\[0\]\.pattern.*:7\b|devices\[0\]\.pattern.*gw\.toml/, c.out)
    const r = await cli(['run', '--config', file], dir)
    assert.notEqual(r.code, 0)
    noStack(r.out)
    assert.match(r.out, /devices\[0\]\.pattern/)
    assert.doesNotMatch(r.out, /MQTT listener open/)
    assert.equal(readdirSync(dir).includes('data'), false, 'the data dir was created before validation failed')
  } finally {
    cleanup()
  }
})

test('command-line mistakes print one line without a stack trace', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const missing = await cli(['run', '--config'], dir)
    assert.equal(missing.code, 2)
    noStack(missing.out)
    assert.match(missing.out, /--config needs a value/)
    const typo = await cli(['--confg', 'x.toml'], dir)
    assert.equal(typo.code, 2)
    noStack(typo.out)
    assert.match(typo.out, /unknown option --confg; did you mean --config\?/)
    const cmd = await cli(['chek'], dir)
    assert.equal(cmd.code, 2)
    assert.match(cmd.out, /did you mean "check"/)
  } finally {
    cleanup()
  }
})

test('a data dir that is a file, or cannot be created, stops the start with one line', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const mqtt = await freePort()
  try {
    writeFileSync(join(dir, 'afile'), 'x')
    for (const dataDir of [join(dir, 'afile'), join(dir, 'afile', 'data')]) {
      writeFileSync(join(dir, 'gw.toml'), `[storage]\ndata_dir = "${dataDir}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${mqtt}\n`)
      const r = await cli(['run', '--config', join(dir, 'gw.toml')], dir)
      assert.notEqual(r.code, 0)
      noStack(r.out)
      assert.match(userLine(r.out), /storage\.data_dir/, r.out)
      assert.match(userLine(r.out), /not a directory|cannot be created/, r.out)
      const c = await cli(['check', '--config', join(dir, 'gw.toml')], dir)
      assert.equal(c.code, 1)
      assert.match(c.out, /FAIL\s+storage\.data_dir/)
    }
  } finally {
    cleanup()
  }
})

test('a second fieldgate on the same data dir says another fieldgate holds it, and the first keeps running', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const [m1, m2, s1] = [await freePort(), await freePort(), await freePort()]
  mkdirSync(join(dir, 'one'))
  const first = await startGateway(join(dir, 'one'), `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${s1}\n[[broker.listeners]]\nport = ${m1}\n`, { waitPort: m1, env: cleanEnv() })
  try {
    writeFileSync(join(dir, 'two.toml'), `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${m2}\n`)
    const r = await cli(['run', '--config', join(dir, 'two.toml')], dir)
    assert.notEqual(r.code, 0)
    noStack(r.out)
    assert.match(userLine(r.out), /another fieldgate .*holds the data dir/, r.out)
    assert.doesNotMatch(r.out, /free disk space/i)
    assert.equal(first.proc.exitCode, null)
    const res = await fetch(`http://127.0.0.1:${s1}/healthz`)
    assert.equal(res.status, 200)
  } finally {
    await first.kill()
    cleanup()
  }
})

test('a failure while building (a missing status token file) closes the database and everything else already opened', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const { loadConfigText } = await import('../../src/config/index.ts')
    const { buildGateway } = await import('../../src/gateway/build.ts')
    const { openStore } = await import('../../src/store-forward/index.ts')
    const { storeOptions } = await import('../../src/gateway/options/storage.ts')
    const { silentLogger } = await import('../../src/core/index.ts')
    const toml = `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${await freePort()}\ntoken_file = "${join(dir, 'missing.token')}"\n[[devices]]\nid = "d"\ndriver = "simulated"\n`
    const { config } = loadConfigText(toml, join(dir, 'gw.toml'), {})
    await assert.rejects(buildGateway(config, silentLogger), /status\.token_file/)
    // LevelDB refuses a second open of a database this process still holds: this open proves it was closed.
    const store = await openStore(storeOptions(config.storage), silentLogger)
    await store.close()
  } finally {
    cleanup()
  }
})

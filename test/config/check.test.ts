import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { chmodSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { test } from 'node:test'
import { ServerTCP } from 'modbus-serial'
import { check } from '../../src/commands/check.ts'
import { startMosquitto } from '../helpers/mosquitto.ts'
import { startGateway } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir } from '../helpers/tmp.ts'

async function runCheck(file: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = []
  const code = await check(file, { env: {}, out: (l) => lines.push(l), probeTimeout: 4000 })
  return { code, lines }
}

const line = (lines: string[], name: string): string => lines.find((l) => l.includes(` ${name} `) || l.includes(` ${name}`)) ?? ''

test('an invalid config fails before probing and names the key, the file and the line', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'gw.toml')
    writeFileSync(file, '[status]\nport = 8080\nhots = "0.0.0.0"\n')
    const { code, lines } = await runCheck(file)
    assert.equal(code, 1)
    const text = lines.join('\n')
    assert.match(text, /FAIL\s+config/)
    assert.match(text, /status\.hots/)
    assert.ok(text.includes(`${file}:3`), text)
    assert.match(text, /nothing was probed/)
  } finally {
    cleanup()
  }
})

test('a listener port held by another process fails; free ports and a writable data dir pass', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const busy = createServer()
  const busyPort = await freePort()
  await new Promise<void>((r) => busy.listen(busyPort, '127.0.0.1', r))
  try {
    const statusPort = await freePort()
    const file = join(dir, 'gw.toml')
    writeFileSync(file, `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${statusPort}\n[[broker.listeners]]\nname = "lan"\nport = ${busyPort}\n`)
    const { code, lines } = await runCheck(file)
    assert.equal(code, 1)
    assert.match(line(lines, 'listener lan'), /FAIL.*in use.*broker\.listeners\[0\]/)
    assert.match(line(lines, 'status page'), /PASS.*is free/)
    assert.match(line(lines, 'storage.data_dir'), /PASS/)
    assert.match(lines.at(-1) ?? '', /1 of \d+ checks failed/)
  } finally {
    busy.close()
    cleanup()
  }
})

test('a missing secret file fails naming its key', { timeout: 10_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'gw.toml')
    writeFileSync(file, `[storage]\ndata_dir = "${dir}"\n[status]\nenabled = false\ntoken_file = "${join(dir, 'nope')}"\n[[broker.listeners]]\nport = ${await freePort()}\n`)
    const { code, lines } = await runCheck(file)
    assert.equal(code, 1)
    assert.match(line(lines, 'status.token_file'), /FAIL.*ENOENT/)
  } finally {
    cleanup()
  }
})

test('an uplink passes with the right password and fails with a wrong one or an unresolvable host', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const pw = join(dir, 'mosq.passwd')
  writeFileSync(pw, '')
  execFileSync('mosquitto_passwd', ['-b', pw, 'gw', 's3cret'])
  // Mosquitto started as root drops to its own user, which must read the file.
  chmodSync(dir, 0o755)
  chmodSync(pw, 0o644)
  const mosq = await startMosquitto({ extra: ['allow_anonymous false', `password_file ${pw}`] })
  try {
    writeFileSync(join(dir, 'good'), 's3cret\n')
    writeFileSync(join(dir, 'bad'), 'wrong\n')
    const file = join(dir, 'gw.toml')
    const uplink = (name: string, url: string, pass: string) => `[[uplinks]]\nname = "${name}"\nurl = "${url}"\nusername = "gw"\npassword_file = "${join(dir, pass)}"\nconnect_timeout = "3s"\n`
    writeFileSync(
      file,
      `[storage]\ndata_dir = "${dir}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${await freePort()}\n` +
        uplink('good', `mqtt://127.0.0.1:${mosq.port}`, 'good') +
        uplink('badpass', `mqtt://127.0.0.1:${mosq.port}`, 'bad') +
        uplink('nohost', 'mqtt://fieldgate-no-such-host.invalid:1883', 'good'),
    )
    const { code, lines } = await runCheck(file)
    assert.equal(code, 1)
    assert.match(line(lines, 'uplink good'), /PASS.*accepted user "gw"/)
    assert.match(line(lines, 'uplink badpass'), /FAIL.*(Not authorized|Bad username or password)/i)
    assert.match(line(lines, 'uplink nohost'), /FAIL.*does not resolve/)
    assert.ok(!lines.join('\n').includes('s3cret'), 'the output never shows a password')
  } finally {
    await mosq.stop()
    cleanup()
  }
})

test('a Modbus TCP device passes when it answers and fails when nothing listens', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const port = await freePort()
  const deadPort = await freePort()
  const server = new ServerTCP(
    { getHoldingRegister: (addr: number) => addr * 10, getInputRegister: () => 0, getCoil: () => false, setRegister: () => undefined, setCoil: () => undefined },
    { host: '127.0.0.1', port, unitID: 1 },
  )
  await new Promise<void>((r) => server.on('initialized', () => r()))
  try {
    const file = join(dir, 'gw.toml')
    const dev = (id: string, p: number) => `[[devices]]\nid = "${id}"\ndriver = "modbus-tcp"\nhost = "127.0.0.1"\nport = ${p}\ntimeout = "1s"\n[[devices.points]]\nname = "temp"\naddress = 3\n`
    writeFileSync(file, `[storage]\ndata_dir = "${dir}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = ${await freePort()}\n` + dev('plc', port) + dev('gone', deadPort))
    const { code, lines } = await runCheck(file)
    assert.equal(code, 1, lines.join('\n'))
    assert.match(line(lines, 'device plc'), /PASS.*answered/)
    assert.match(line(lines, 'device gone'), /FAIL/)
  } finally {
    await new Promise<void>((r) => server.close(() => r()))
    cleanup()
  }
})

test('ports held by a running gateway are named as such', { timeout: 15_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const { createStatusServer } = await import('../../src/status/index.ts')
  const { silentLogger } = await import('../../src/core/index.ts')
  const statusPort = await freePort()
  const running = createStatusServer({
    config: { host: '127.0.0.1', port: statusPort, allow_reload: false, heartbeat: 15_000, max_event_clients: 2, event_buffer: 10_000 },
    info: { version: '1', gatewayId: 'g', startedAt: Date.now() },
    sources: () => ({}),
    logger: silentLogger,
  })
  await running.listen()
  try {
    const file = join(dir, 'gw.toml')
    writeFileSync(file, `[storage]\ndata_dir = "${dir}"\n[status]\nport = ${statusPort}\n[[broker.listeners]]\nport = ${await freePort()}\n`)
    const { code, lines } = await runCheck(file)
    assert.equal(code, 1)
    assert.match(line(lines, 'status page'), /FAIL.*in use by the fieldgate running now/)
  } finally {
    await running.close()
    cleanup()
  }
})

test('before an upgrade (--in-place), ports held by the running fieldgate count as free; without it they fail', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const [mqtt, statusPort] = [await freePort(), await freePort()]
  const toml = `[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nport = ${statusPort}\n[[broker.listeners]]\nname = "lan"\nport = ${mqtt}\n[[devices]]\nid = "d"\ndriver = "simulated"\n`
  const gw = await startGateway(dir, toml, { waitPort: mqtt, env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_'))) })
  try {
    const file = join(dir, 'gateway.toml')
    const plain = await runCheck(file)
    assert.equal(plain.code, 1)
    assert.match(line(plain.lines, 'listener lan'), /FAIL.*in use by the fieldgate running now/)
    const lines: string[] = []
    const code = await check(file, { env: {}, out: (l) => lines.push(l), probeTimeout: 4000, inPlace: true })
    assert.equal(code, 0, lines.join('\n'))
    assert.match(line(lines, 'listener lan'), /PASS.*held by the fieldgate running now/)
    assert.match(line(lines, 'device d'), /PASS.*not probed/)
  } finally {
    await gw.kill()
    cleanup()
  }
})

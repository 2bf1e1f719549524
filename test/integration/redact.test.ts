import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import mqtt from 'mqtt'
import { startGateway } from '../helpers/gateway.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const ROOT = join(import.meta.dirname, '..', '..')
const TSX = import.meta.resolve('tsx')
const SECRETS = ['secret', 'Q7pw', 'tok3nZ']

function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s))
}

function runCheck(file: string): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli.ts'), 'check', '--config', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    p.stderr.on('data', (d: Buffer) => (out += d.toString()))
    p.once('exit', () => resolve(out))
  })
}

test('an uplink password in its URL never reaches the log, /status, the health topics or fieldgate check', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-redact-')
  const [mqttPort, statusPort, closed1, closed2] = [await freePort(), await freePort(), await freePort(), await freePort()]
  const toml = `
[gateway]
id = "redact"
[log]
level = "debug"
[[broker.listeners]]
host = "127.0.0.1"
port = ${mqttPort}
[storage]
data_dir = "${dir}/data"
[status]
port = ${statusPort}
[[uplinks]]
name = "cloud"
url = "mqtt://user:secret-Q7pw@127.0.0.1:${closed1}"
servers = ["wss://user:s3cret/with@at-Q7pw@127.0.0.1:${closed2}/mqtt?client=gw&token=tok3nZ"]
connect_timeout = "1s"
backoff = { min = "50ms", max = "200ms" }
[[uplinks.forward]]
filter = "fieldgate/#"
`
  const gw = await startGateway(dir, toml, { waitPort: statusPort })
  const local = await mqtt.connectAsync({ host: '127.0.0.1', port: mqttPort, clientId: 'watcher', protocolVersion: 5 })
  const published: string[] = []
  local.on('message', (topic, payload) => published.push(`${topic} ${payload.toString()}`))
  try {
    await local.subscribeAsync(['#', '$SYS/#'], { qos: 0 })
    // several reconnects through both servers
    await waitFor(() => gw.log.join('').split('uplink reconnecting after backoff').length > 6, 30_000, 50, 'reconnects')
    const status = await (await fetch(`http://127.0.0.1:${statusPort}/status`)).text()
    const check = await runCheck(join(dir, 'gateway.toml'))
    const log = gw.log.join('')

    const where = (text: string): string => text.split('\n').filter((l) => leaks(l).length > 0).slice(0, 3).join('\n')
    assert.deepEqual(leaks(log), [], `log:\n${where(log)}`)
    assert.deepEqual(leaks(status), [], '/status')
    assert.deepEqual(leaks(published.join('\n')), [], `local health topics:\n${where(published.join('\n'))}`)
    assert.deepEqual(leaks(check), [], `fieldgate check:\n${where(check)}`)
    // what is shown instead: the user name and a mask, the host and port
    assert.ok(log.includes(`mqtt://user:***@127.0.0.1:${closed1}`), 'log names the server, redacted')
    assert.ok(log.includes(`wss://user:***@127.0.0.1:${closed2}/mqtt?client=gw&token=***`), 'log names the failover server, redacted')
    assert.match(status, /user:\*\*\*@127\.0\.0\.1/)
    assert.match(check, new RegExp(`uplink cloud.*127\\.0\\.0\\.1:${closed1}`))
  } finally {
    await local.endAsync(true)
    await gw.kill('SIGKILL')
    cleanup()
  }
})

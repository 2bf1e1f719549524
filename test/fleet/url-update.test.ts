import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { randomFillSync } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { makeTestCerts, type TestCerts } from '../helpers/certs.ts'
import { track } from '../helpers/children.ts'
import { startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { fakeElf } from '../update/helpers.ts'

/**
 * Updates fetched by the gateways from an HTTPS URL (`fieldgate fleet update MANIFEST --url`): a
 * loopback HTTPS server with a certificate from a throwaway CA, which one gateway trusts
 * (update.ca_file) and the other does not. Two gateway processes, Mosquitto as the cloud.
 */
const ROOT = join(import.meta.dirname, '..', '..')
const TSX = import.meta.resolve('tsx')
const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
const SIZE = 3 * 1024 * 1024
let dir: string
let cleanup: () => void
let certs: TestCerts
let cloud: MosquittoHandle
let server: Server
let url = ''
const body = fakeElf('x64', randomFillSync(Buffer.alloc(SIZE)))
/** What the server was asked for, and how many body bytes it sent. */
const served: Array<{ range: string; bytes: number }> = []
/** Cut the next response after this many bytes (a dropped connection). */
let cutAfter = 0
const gws: Record<string, { dir: string; lan: number; proc?: GatewayProcess }> = {}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = track(spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'fleet', ...args, '--broker', `mqtt://127.0.0.1:${cloud.port}`, '--json'], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }))
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), 120_000)
    p.once('exit', (code) => {
      clearTimeout(t)
      resolve({ code, stdout, stderr })
    })
  })
}

before(async () => {
  ;({ dir, cleanup } = tempDir('fieldgate-url-update-'))
  certs = makeTestCerts()
  cloud = await startMosquitto()
  server = createServer({ cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) }, (req, res) => {
    const m = /^bytes=(\d+)-(\d+)?$/.exec(String(req.headers.range ?? ''))
    const from = m ? Number(m[1]) : 0
    const to = m?.[2] !== undefined ? Math.min(Number(m[2]), body.length - 1) : body.length - 1
    const part = body.subarray(from, to + 1)
    const entry = { range: String(req.headers.range ?? ''), bytes: 0 }
    served.push(entry)
    res.writeHead(m ? 206 : 200, { 'Content-Length': part.length, ...(m ? { 'Content-Range': `bytes ${from}-${to}/${body.length}` } : {}) })
    if (cutAfter > 0) {
      const n = cutAfter
      cutAfter = 0
      entry.bytes = n
      res.write(part.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 50))
      return
    }
    entry.bytes = part.length
    res.end(part)
  })
  const port = await freePort()
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
  url = `https://127.0.0.1:${port}/releases/fieldgate-0.2.0`
  writeFileSync(join(dir, 'fw'), body)
  execFileSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'keygen', join(dir, 'release')], { timeout: 60_000 })
  execFileSync(process.execPath, ['--import', TSX, join(ROOT, 'src/cli.ts'), 'sign', join(dir, 'fw'), '--key', join(dir, 'release'), '--version', '0.2.0', '--chunk-size', '65536'], { timeout: 60_000 })
  const key = readFileSync(join(dir, 'release.pub'), 'utf8').trim()
  await Promise.all(
    ['trusting', 'plain'].map(async (id) => {
      const g = { dir: join(dir, id), lan: await freePort() }
      mkdirSync(g.dir)
      gws[id] = g
      const toml = `[gateway]\nid = "${id}"\n[log]\nlevel = "info"\n[[broker.listeners]]\nhost = "127.0.0.1"\nport = ${g.lan}\n[storage]\ndata_dir = "${join(g.dir, 'data')}"\n[status]\nenabled = false\n` +
        `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:${cloud.port}"\nbackoff = { min = "200ms", max = "1s" }\n[uplinks.management]\nenabled = true\n` +
        `[update]\npublic_keys = ["${key}"]\n${id === 'trusting' ? `ca_file = "${certs.caCert}"\n` : ''}`
      gws[id].proc = await startGateway(g.dir, toml, { waitPort: g.lan, env: cleanEnv(), timeout: 90_000 })
    }),
  )
  await waitFor(async () => {
    const r = await cli(['list'])
    const inv = JSON.parse(r.stdout || '{}') as Record<string, { online?: boolean }>
    return inv.trusting?.online === true && inv.plain?.online === true
  }, 90_000, 500, 'both gateways online')
}, { timeout: 240_000 })

after(async () => {
  await Promise.all(Object.values(gws).map((g) => g.proc?.kill()))
  await new Promise((r) => server?.close(r))
  await cloud?.stop()
  certs?.cleanup()
  cleanup()
})

test('a gateway fetches an update from an HTTPS URL, resumes with a Range request after the connection drops, and verifies it', { timeout: 120_000 }, async () => {
  cutAfter = 1024 * 1024 + 5000
  const r = await cli(['update', join(dir, 'fw.manifest.json'), '--url', url, '--to', 'trusting', '--stage'])
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}\n${gws.trusting?.proc?.log.join('').slice(-3000)}`)
  const out = JSON.parse(r.stdout) as { results: Array<{ id: string; outcome: string; state: string }> }
  assert.deepEqual(out.results.map((x) => [x.id, x.outcome, x.state]), [['trusting', 'ok', 'staged']])
  assert.ok(served.length >= 2, JSON.stringify(served))
  assert.equal(served[0]?.range, `bytes=0-${body.length - 1}`)
  // The second request starts at the first chunk not on disk: the 16 whole chunks of the first MB were kept.
  assert.equal(served[1]?.range, `bytes=${16 * 65536}-${body.length - 1}`)
  const total = served.reduce((a, s) => a + s.bytes, 0)
  assert.ok(total < body.length + 65536, `served ${total} bytes for ${body.length}`)
})

test('a server whose certificate the gateway does not trust: the update fails at once with the reason and what to do', { timeout: 120_000 }, async () => {
  const before = served.length
  const r = await cli(['update', join(dir, 'fw.manifest.json'), '--url', url, '--to', 'plain', '--stage'])
  assert.equal(r.code, 1, r.stdout)
  const out = JSON.parse(r.stdout) as { results: Array<{ id: string; outcome: string; state: string; detail: string }> }
  assert.deepEqual(out.results.map((x) => [x.id, x.outcome, x.state]), [['plain', 'failed', 'failed']])
  assert.match(out.results[0]?.detail ?? '', /^https:\/\/127\.0\.0\.1:\d+\/releases\/fieldgate-0\.2\.0: unable to verify the first certificate; trust the server's CA with update\.ca_file$/)
  assert.equal(served.length, before, 'no request got through TLS')
})

test('an announce with a URL that is not https:// is refused', { timeout: 60_000 }, async () => {
  const r = await cli(['update', join(dir, 'fw.manifest.json'), '--url', 'http://127.0.0.1/fw', '--to', 'plain'])
  assert.equal(r.code, 2)
  assert.match(r.stderr, /^fieldgate fleet: --url http:\/\/127\.0\.0\.1\/fw is not an https:\/\/ URL/)
})

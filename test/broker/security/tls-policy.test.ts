import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions } from 'node:tls'
import { after, before, test } from 'node:test'
import { check } from '../../../src/commands/check.ts'
import { brokerSchema } from '../../../src/config/sections/broker.ts'
import { startGateway } from '../../helpers/gateway.ts'
import { makeCrl, makeTestCerts, type TestCerts } from '../../helpers/certs.ts'
import { freePort } from '../../helpers/ports.ts'
import { tempDir, waitFor } from '../../helpers/tmp.ts'
import { connectOk, startSecureBroker, tryConnect } from './setup.ts'

let certs: TestCerts
let rsa: { cert: string; key: string }

before(() => {
  certs = makeTestCerts(['device-1', 'device-2', 'device-3'])
  // An RSA server certificate: only with one can a client even offer a static-RSA (not forward-secret) key exchange.
  const d = certs.dir
  const run = (args: string[]): void => void execFileSync('openssl', args, { cwd: d, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 })
  writeFileSync(join(d, 'rsa.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'rsa.key', '-out', 'rsa.csr', '-subj', '/CN=localhost'])
  run(['x509', '-req', '-in', 'rsa.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'rsa.crt', '-days', '2', '-extfile', 'rsa.ext'])
  rsa = { cert: join(d, 'rsa.crt'), key: join(d, 'rsa.key') }
})
after(() => certs.cleanup())

const clientTls = (cn: string): { ca: Buffer; cert: Buffer; key: Buffer } => {
  const c = certs.clients[cn]
  assert.ok(c)
  return { ca: readFileSync(certs.caCert), cert: readFileSync(c.cert), key: readFileSync(c.key) }
}

/** A raw TLS handshake: the negotiated protocol and cipher, or the error code. */
function handshake(port: number, opts: ConnectionOptions): Promise<{ ok: true; protocol: string; cipher: string } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(certs.caCert), servername: 'localhost', ...opts }, () => {
      resolve({ ok: true, protocol: s.getProtocol() ?? '', cipher: s.getCipher().name })
      s.destroy()
    })
    s.once('error', (err: Error & { code?: string }) => resolve({ ok: false, code: err.code ?? err.message }))
  })
}

/** What the same client gets from a TLS server with Node's defaults (the listener's settings before this change). */
async function againstNodeDefaults(cert: { cert: string; key: string }, opts: ConnectionOptions, serverOpts = {}): Promise<Awaited<ReturnType<typeof handshake>>> {
  const srv = createTlsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), ...serverOpts }, (s) => s.end())
  srv.on('tlsClientError', () => undefined)
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  try {
    return await handshake((srv.address() as { port: number }).port, opts)
  } finally {
    srv.close()
  }
}

test('a client certificate listed in the CRL is refused at the handshake; one not listed connects', { timeout: 30_000 }, async () => {
  const crl = makeCrl(certs, join(certs.dir, 'start.crl'), ['device-2'])
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'mqtts', allow_anonymous: false, tls: { cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert, crl_file: crl, require_client_cert: true, use_cn_as_username: true } }],
  })
  try {
    const url = `mqtts://127.0.0.1:${sb.ports[0]}`
    const ok = await connectOk(url, { protocolVersion: 5, ...clientTls('device-1'), clientId: 'd1' })
    await ok.publishAsync('dev/device-1/t', '1', { qos: 1 })
    await ok.endAsync()
    for (const protocolVersion of [4, 5] as const) {
      const revoked = await tryConnect(url, { protocolVersion, ...clientTls('device-2'), clientId: `d2-${protocolVersion}` })
      assert.equal(revoked.client, null, 'a revoked certificate got in')
    }
    assert.ok(
      sb.logs.some((l) => l.level === 'info' && l.msg === 'TLS client certificate refused' && l.obj.reason === 'CERT_REVOKED'),
      `no refusal for a revoked certificate in: ${JSON.stringify(sb.logs.map((l) => [l.msg, l.obj.reason]))}`,
    )
    // TLS 1.2 too (there the client learns of it before its handshake completes).
    assert.equal((await handshake(sb.ports[0] as number, { ...clientTls('device-2'), maxVersion: 'TLSv1.2' })).ok, false)
    assert.equal((await handshake(sb.ports[0] as number, { ...clientTls('device-1'), maxVersion: 'TLSv1.2' })).ok, true)
    // mosquitto_pub (libssl) is refused too, and gets through with the certificate that is not revoked.
    // Asynchronously: the broker runs in this process.
    const pub = (cn: string): Promise<number> => {
      const c = certs.clients[cn]
      assert.ok(c)
      const args = ['-h', '127.0.0.1', '-p', String(sb.ports[0]), '--cafile', certs.caCert, '--cert', c.cert, '--key', c.key, '-t', `dev/${cn}/x`, '-m', '1', '-q', '1']
      return new Promise((resolve) => execFile('mosquitto_pub', args, { timeout: 15_000 }, (err) => resolve(err ? Number(err.code ?? -1) : 0)))
    }
    assert.notEqual(await pub('device-2'), 0)
    assert.equal(await pub('device-1'), 0)
  } finally {
    await sb.close()
  }
})

test('over secure WebSockets (wss) too, a revoked client certificate is refused and reload picks up a new CRL', { timeout: 30_000 }, async () => {
  const crl = makeCrl(certs, join(certs.dir, 'wss.crl'), ['device-2'])
  const sb = await startSecureBroker({
    listeners: [{ protocol: 'wss', allow_anonymous: false, tls: { cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert, crl_file: crl, require_client_cert: true, use_cn_as_username: true } }],
  })
  try {
    const url = `wss://127.0.0.1:${sb.ports[0]}/mqtt`
    const ok = await connectOk(url, { protocolVersion: 5, ...clientTls('device-1'), clientId: 'w1' })
    await ok.endAsync()
    assert.equal((await tryConnect(url, { protocolVersion: 5, ...clientTls('device-2'), clientId: 'w2' })).client, null)
    makeCrl(certs, crl, ['device-2', 'device-1'])
    await sb.security.reload()
    assert.equal((await tryConnect(url, { protocolVersion: 5, ...clientTls('device-1'), clientId: 'w1b' })).client, null, 'revoked after reload, still admitted')
  } finally {
    await sb.close()
  }
})

test('certificate reload is all or nothing: a broken CRL on one listener keeps the rotated certificate of another from being served', { timeout: 30_000 }, async () => {
  const next = makeTestCerts([])
  const crl = makeCrl(certs, join(certs.dir, 'aon.crl'), [])
  const cert = join(certs.dir, 'aon-server.crt')
  const key = join(certs.dir, 'aon-server.key')
  copyFileSync(certs.serverCert, cert)
  copyFileSync(certs.serverKey, key)
  const sb = await startSecureBroker({
    listeners: [
      { protocol: 'mqtts', tls: { cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert, crl_file: crl } },
      { protocol: 'mqtts', tls: { cert_file: cert, key_file: key } },
    ],
  })
  const served = (port: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().fingerprint256)
        s.destroy()
      })
      s.once('error', reject)
    })
  const fp = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256
  try {
    const port = sb.ports[1] as number
    copyFileSync(next.serverCert, cert)
    copyFileSync(next.serverKey, key)
    writeFileSync(crl, 'broken\n')
    await sb.security.reload()
    assert.match(String(sb.security.status().reason), /tls\.crl_file/)
    assert.equal(await served(port), fp(certs.serverCert), 'one listener changed while another failed')
    makeCrl(certs, crl, [])
    await sb.security.reload()
    assert.equal(await served(port), fp(next.serverCert))
  } finally {
    await sb.close()
    next.cleanup()
  }
})

test('a CRL that is not a CRL, expired, or signed by another CA stops the listener with the key and the file', { timeout: 30_000 }, async () => {
  const garbage = join(certs.dir, 'garbage.crl')
  writeFileSync(garbage, 'not a crl\n')
  const cases: Array<[string, RegExp]> = [
    [garbage, /no "-----BEGIN X509 CRL-----" block/],
    [makeCrl(certs, join(certs.dir, 'expired.crl'), [], { expired: true }), /expired on 2020-01-02/],
    [makeCrl(certs, join(certs.dir, 'rogue.crl'), [], { rogue: true }), /not signed by a CA in tls\.ca_file/],
    [join(certs.dir, 'missing.crl'), /cannot read tls\.crl_file/],
  ]
  for (const [file, reason] of cases) {
    await assert.rejects(
      startSecureBroker({ listeners: [{ protocol: 'mqtts', name: 'lan-tls', tls: { cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert, crl_file: file } }] }),
      (e: Error) => {
        assert.match(e.message, /"lan-tls"/)
        assert.match(e.message, /tls\.crl_file/)
        assert.ok(e.message.includes(file), e.message)
        assert.match(e.message, reason)
        assert.equal(e.message.split('\n').length, 1)
        return true
      },
    )
  }
})

test('by default TLS 1.1 and a static-RSA (not forward-secret) suite are refused; TLS 1.2 with ECDHE and TLS 1.3 connect', { timeout: 30_000 }, async () => {
  const sb = await startSecureBroker({ listeners: [{ protocol: 'mqtts', tls: { cert_file: rsa.cert, key_file: rsa.key } }, { protocol: 'mqtts', tls: { cert_file: certs.serverCert, key_file: certs.serverKey } }] })
  try {
    const [rsaPort, ecPort] = sb.ports as [number, number]
    // Control: these clients do get in with Node's defaults, which is what the listeners had before.
    const tls11 = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const
    assert.equal((await againstNodeDefaults({ cert: certs.serverCert, key: certs.serverKey }, tls11, { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' })).ok, true)
    const staticRsa = { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' } as const
    const control = await againstNodeDefaults(rsa, staticRsa)
    assert.deepEqual(control, { ok: true, protocol: 'TLSv1.2', cipher: 'AES128-GCM-SHA256' })

    assert.equal((await handshake(ecPort, tls11)).ok, false)
    assert.equal((await handshake(rsaPort, tls11)).ok, false)
    assert.deepEqual(await handshake(rsaPort, staticRsa), { ok: false, code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' })
    assert.deepEqual(await handshake(rsaPort, { maxVersion: 'TLSv1.2' }), { ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-RSA-AES128-GCM-SHA256' })
    assert.deepEqual(await handshake(ecPort, { maxVersion: 'TLSv1.2' }), { ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' })
    assert.deepEqual(await handshake(ecPort, {}), { ok: true, protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' })
  } finally {
    await sb.close()
  }
})

test('min_tls_version = "TLSv1.3" refuses a TLS 1.2 client; ciphers narrows what is offered', { timeout: 30_000 }, async () => {
  const sb = await startSecureBroker({
    listeners: [
      { protocol: 'mqtts', tls: { cert_file: certs.serverCert, key_file: certs.serverKey, min_tls_version: 'TLSv1.3' } },
      { protocol: 'mqtts', tls: { cert_file: certs.serverCert, key_file: certs.serverKey, ciphers: 'TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384' } },
    ],
  })
  try {
    const [only13, narrow] = sb.ports as [number, number]
    assert.deepEqual(await handshake(only13, { maxVersion: 'TLSv1.2' }), { ok: false, code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' })
    assert.deepEqual(await handshake(only13, {}), { ok: true, protocol: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' })
    const c = await connectOk(`mqtts://127.0.0.1:${only13}`, { protocolVersion: 5, ca: readFileSync(certs.caCert), clientId: 'v13' })
    await c.endAsync()
    assert.deepEqual(await handshake(narrow, { maxVersion: 'TLSv1.2' }), { ok: true, protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES256-GCM-SHA384' })
    assert.deepEqual(await handshake(narrow, {}), { ok: true, protocol: 'TLSv1.3', cipher: 'TLS_CHACHA20_POLY1305_SHA256' })
  } finally {
    await sb.close()
  }
})

test('a revocation published after start takes effect on SIGHUP; a broken CRL then fails the reload and the last good one stays', { timeout: 90_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const port = await freePort()
  const statusPort = await freePort()
  const crl = makeCrl(certs, join(dir, 'clients.crl'), [])
  const gw = await startGateway(
    dir,
    `[storage]
data_dir = "${join(dir, 'data')}"
[status]
port = ${statusPort}
[[broker.listeners]]
name = "lan-tls"
protocol = "mqtts"
port = ${port}
allow_anonymous = false
[broker.listeners.tls]
cert_file = "${certs.serverCert}"
key_file = "${certs.serverKey}"
ca_file = "${certs.caCert}"
crl_file = "${crl}"
require_client_cert = true
use_cn_as_username = true
`,
    { waitPort: port, env: { FIELDGATE_LOG__LEVEL: 'info' } },
  )
  const url = `mqtts://127.0.0.1:${port}`
  const gets = async (cn: string): Promise<boolean> => {
    const r = await tryConnect(url, { protocolVersion: 5, ...clientTls(cn), clientId: `${cn}-${Date.now()}` })
    await r.client?.endAsync()
    return r.client !== null
  }
  const sighup = async (): Promise<string> => {
    const from = gw.log.join('').length
    gw.proc.kill('SIGHUP')
    return waitFor(() => gw.log.join('').slice(from).split('\n').find((l) => /config reloaded|config reload refused/.test(l)), 20_000, 20, 'reload outcome logged')
  }
  try {
    assert.equal(await gets('device-3'), true)
    makeCrl(certs, crl, ['device-3'])
    assert.equal(await gets('device-3'), true, 'the CRL is read at start and on reload, not per connection')
    assert.match(await sighup(), /config reloaded/)
    assert.equal(await gets('device-3'), false, 'revoked, reloaded, still admitted')
    assert.equal(await gets('device-1'), true)

    writeFileSync(crl, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n')
    const refused = await sighup()
    assert.match(refused, /config reload refused/)
    assert.match(refused, /tls\.crl_file/)
    assert.equal(await gets('device-3'), false, 'a failed reload dropped the revocation')
    assert.equal(await gets('device-1'), true, 'a failed reload broke the listener')
  } finally {
    await gw.kill()
    cleanup()
  }
})

test('a bad CRL at start: the gateway exits with one line naming the key and the file, and fieldgate check fails on it', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const crl = makeCrl(certs, join(dir, 'old.crl'), [], { expired: true })
  const port = await freePort()
  const toml = `[storage]
data_dir = "${join(dir, 'data')}"
[status]
port = ${await freePort()}
[[broker.listeners]]
name = "lan-tls"
protocol = "mqtts"
port = ${port}
[broker.listeners.tls]
cert_file = "${certs.serverCert}"
key_file = "${certs.serverKey}"
ca_file = "${certs.caCert}"
crl_file = "${crl}"
`
  try {
    const gw = await startGateway(dir, toml)
    const timer = setTimeout(() => void gw.kill('SIGKILL'), 30_000)
    const exit = await gw.exited
    clearTimeout(timer)
    const out = gw.log.join('')
    assert.notEqual(exit.code, 0, out)
    assert.equal(exit.signal, null, out)
    const lines = out.split('\n').filter((l) => l.startsWith('fieldgate:'))
    assert.equal(lines.length, 1, out)
    assert.match(lines[0] ?? '', /lan-tls.*tls\.crl_file.*old\.crl.*expired/)
    assert.doesNotMatch(out, /^\s+at .+:\d+:\d+\)?$/m)

    const said: string[] = []
    const code = await check(join(dir, 'gateway.toml'), { env: {}, out: (l) => said.push(l), probeTimeout: 4000 })
    assert.equal(code, 1)
    assert.match(said.find((l) => l.includes('tls of lan-tls')) ?? said.join('\n'), /FAIL.*tls\.crl_file.*old\.crl.*expired/)
    makeCrl(certs, crl, [])
    const again: string[] = []
    assert.equal(await check(join(dir, 'gateway.toml'), { env: {}, out: (l) => again.push(l), probeTimeout: 4000 }), 0, again.join('\n'))
    assert.match(again.find((l) => l.includes('tls of lan-tls')) ?? '', /PASS/)
  } finally {
    cleanup()
  }
})

test('the schema refuses a crl_file without ca_file, a cipher list OpenSSL cannot use, and TLS 1.3 only without a TLS 1.3 suite', () => {
  const problems = (tls: Record<string, unknown>): string[] => {
    const r = brokerSchema.safeParse({ listeners: [{ protocol: 'mqtts', tls: { cert_file: 'a', key_file: 'b', ...tls } }] })
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
  }
  assert.match(problems({ crl_file: 'x.crl' }).join('\n'), /listeners\.0\.tls\.crl_file: needs tls\.ca_file/)
  assert.match(problems({ ciphers: 'NOT-A-CIPHER' }).join('\n'), /tls\.ciphers: OpenSSL accepts none of these ciphers/)
  assert.match(problems({ min_tls_version: 'TLSv1.3', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }).join('\n'), /tls\.ciphers: .*needs a TLS 1\.3 suite/)
  assert.match(problems({ min_tls_version: 'TLSv1.1' }).join('\n'), /min_tls_version/)
  assert.deepEqual(problems({ ca_file: 'ca', crl_file: 'x.crl', min_tls_version: 'TLSv1.3' }), [])
  const parsed = brokerSchema.parse({ listeners: [{ protocol: 'mqtts', tls: { cert_file: 'a', key_file: 'b' } }] }).listeners[0]?.tls
  assert.equal(parsed?.min_tls_version, 'TLSv1.2')
  assert.ok(parsed?.ciphers.split(':').every((c) => c.startsWith('TLS_') || c.startsWith('ECDHE-')), parsed?.ciphers)
})

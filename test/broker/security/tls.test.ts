import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { copyFileSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { after, before, test } from 'node:test'
import { startTlsListener } from '../../../src/broker/listeners/tls.ts'
import { brokerSchema } from '../../../src/config/sections/broker.ts'
import { isFieldgateError } from '../../../src/core/errors.ts'
import { silentLogger } from '../../../src/core/logger.ts'
import { makeTestCerts, type TestCerts } from '../../helpers/certs.ts'
import { tempDir, waitFor } from '../../helpers/tmp.ts'
import { connectOk, startSecureBroker, tryConnect, type SecureBroker } from './setup.ts'
import { listenerOptions } from '../../../src/gateway/options/broker.ts'

let certs: TestCerts
let sb: SecureBroker
let plainTls: string
let mtls: string
let encrypted: string
let mtlsPort: number

const ACL = `
[[rule]]
topic = "public/#"
access = "readwrite"

[[rule]]
topic = "dev/%u/#"
access = "readwrite"
`

before(async () => {
  certs = makeTestCerts(['device-1', 'device-2'])
  const tls = { cert_file: certs.serverCert, key_file: certs.serverKey }
  sb = await startSecureBroker({
    listeners: [
      { protocol: 'mqtts', tls },
      { protocol: 'mqtts', allow_anonymous: false, tls: { ...tls, ca_file: certs.caCert, require_client_cert: true, use_cn_as_username: true } },
      { protocol: 'mqtts', tls: { cert_file: certs.serverCert, key_file: certs.serverKeyEncrypted, passphrase_file: certs.passphraseFile } },
    ],
    acl: ACL,
    handshakeTimeout: 300,
  })
  plainTls = `mqtts://127.0.0.1:${sb.ports[0]}`
  mtlsPort = sb.ports[1] as number
  mtls = `mqtts://127.0.0.1:${mtlsPort}`
  encrypted = `mqtts://127.0.0.1:${sb.ports[2]}`
})
after(async () => {
  await sb.close()
  certs.cleanup()
})

const ca = (): Buffer => readFileSync(certs.caCert)
const clientTls = (cn: string): { ca: Buffer; cert: Buffer; key: Buffer } => {
  const c = certs.clients[cn]
  assert.ok(c)
  return { ca: ca(), cert: readFileSync(c.cert), key: readFileSync(c.key) }
}

test('MQTT.js over TLS verifies the server certificate and exchanges messages on both protocol levels', { timeout: 15_000 }, async () => {
  for (const protocolVersion of [4, 5] as const) {
    const c = await connectOk(plainTls, { protocolVersion, ca: ca(), clientId: `tls-${protocolVersion}` })
    const got = new Promise<string>((resolve) => c.once('message', (_t, p) => resolve(p.toString())))
    await c.subscribeAsync('public/echo', { qos: 1 })
    await c.publishAsync('public/echo', `hello over tls ${protocolVersion}`, { qos: 1 })
    assert.equal(await got, `hello over tls ${protocolVersion}`)
    await c.endAsync()
  }
})

test('a server key protected by a passphrase file serves TLS', { timeout: 15_000 }, async () => {
  const c = await connectOk(encrypted, { protocolVersion: 5, ca: ca(), clientId: 'enc' })
  await c.endAsync()
})

test('mutual TLS refuses clients without a certificate or with one from another CA', { timeout: 15_000 }, async () => {
  const none = await tryConnect(mtls, { protocolVersion: 5, ca: ca(), clientId: 'no-cert' })
  assert.equal(none.client, null)
  const rogue = await tryConnect(mtls, { protocolVersion: 5, ca: ca(), cert: readFileSync(certs.rogue.cert), key: readFileSync(certs.rogue.key), clientId: 'rogue' })
  assert.equal(rogue.client, null)
})

test('the certificate CN becomes the user name the ACL sees', { timeout: 15_000 }, async () => {
  const c = await connectOk(mtls, { protocolVersion: 5, ...clientTls('device-1'), clientId: 'd1' })
  await c.publishAsync('dev/device-1/temp', '21.5', { qos: 1 })
  await assert.rejects(c.publishAsync('dev/device-2/temp', '99', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
  await c.endAsync()
})

function runCli(cmd: string, args: string[], timeoutMs: number): { done: Promise<{ code: number | null; out: string; err: string }>; kill(): void } {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  p.stdout.on('data', (d: Buffer) => (out += d.toString()))
  p.stderr.on('data', (d: Buffer) => (err += d.toString()))
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs)
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    p.on('exit', (code) => {
      clearTimeout(t)
      resolve({ code, out, err })
    }),
  )
  return { done, kill: () => p.kill('SIGKILL') }
}

test('mosquitto_sub and mosquitto_pub with --cafile, --cert and --key exchange a message over mutual TLS', { timeout: 20_000 }, async () => {
  const d1 = certs.clients['device-1']
  assert.ok(d1)
  const tlsArgs = ['-h', '127.0.0.1', '-p', String(mtlsPort), '--cafile', certs.caCert, '--cert', d1.cert, '--key', d1.key]
  for (const version of ['mqttv311', 'mqttv5']) {
    const before = Number((sb.broker.status().details as { subscriptions: number }).subscriptions)
    const sub = runCli('mosquitto_sub', [...tlsArgs, '-V', version, '-i', `msub-${version}`, '-t', 'dev/device-1/#', '-C', '1', '-v'], 15_000)
    await waitFor(() => Number((sb.broker.status().details as { subscriptions: number }).subscriptions) > before, 10_000, 20, 'mosquitto_sub to subscribe')
    const pub = await runCli('mosquitto_pub', [...tlsArgs, '-V', version, '-i', `mpub-${version}`, '-t', 'dev/device-1/state', '-m', `on-${version}`, '-q', '1'], 15_000).done
    assert.equal(pub.code, 0, pub.err)
    const got = await sub.done
    assert.equal(got.out.trim(), `dev/device-1/state on-${version}`)
  }
})

test('a TLS handshake that never completes is dropped after the handshake timeout', { timeout: 15_000 }, async () => {
  const sockets = Array.from({ length: 5 }, () => connect({ host: '127.0.0.1', port: mtlsPort }))
  const closed = await Promise.all(sockets.map((s) => new Promise<boolean>((resolve) => s.once('close', () => resolve(true)).on('error', () => undefined))))
  assert.deepEqual(closed, [true, true, true, true, true])
})

test('TLS listener config mistakes are reported with the listener and key', { timeout: 15_000 }, async () => {
  const attempt = async (tls: Record<string, unknown> | undefined, re: RegExp): Promise<void> => {
    const cfg = brokerSchema.parse({ listeners: [{ protocol: 'mqtts', name: 'lan-tls', port: 0, ...(tls ? { tls } : {}) }] }).listeners[0]
    assert.ok(cfg)
    await assert.rejects(
      startTlsListener(listenerOptions(cfg), 'lan-tls', false, () => undefined, silentLogger),
      (e: unknown) => isFieldgateError(e, 'CONFIG_INVALID') && e.message.includes('"lan-tls"') && re.test(e.message),
    )
  }
  await attempt(undefined, /needs a \[tls\] table/)
  await attempt({ cert_file: certs.serverCert, key_file: certs.serverKey, use_cn_as_username: true }, /need tls.ca_file/)
  await attempt({ cert_file: certs.serverCert, key_file: `${certs.dir}/missing.key` }, /tls.key_file .*missing.key/)
})

test('reload serves a rotated server certificate to new connections and keeps the old one if the new files are unreadable', { timeout: 20_000 }, async () => {
  const next = makeTestCerts([])
  const { dir, cleanup } = tempDir()
  const cert = join(dir, 'server.crt')
  const key = join(dir, 'server.key')
  copyFileSync(certs.serverCert, cert)
  copyFileSync(certs.serverKey, key)
  const own = await startSecureBroker({ listeners: [{ protocol: 'mqtts', tls: { cert_file: cert, key_file: key } }] })
  const fingerprint = (port: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate().fingerprint256)
        s.destroy()
      })
      s.once('error', reject)
    })
  const fpOf = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256
  try {
    const port = own.ports[0] as number
    assert.equal(await fingerprint(port), fpOf(certs.serverCert))
    copyFileSync(next.serverCert, cert)
    copyFileSync(next.serverKey, key)
    await own.security.reload()
    assert.equal(await fingerprint(port), fpOf(next.serverCert))
    rmSync(key)
    await own.security.reload()
    assert.equal(own.security.status().health, 'degraded')
    assert.equal(await fingerprint(port), fpOf(next.serverCert), 'still serving the last good certificate')
  } finally {
    await own.close()
    cleanup()
    next.cleanup()
  }
})

test('with optional client certificates an unverified certificate never lends its CN', { timeout: 20_000 }, async () => {
  const tls = { cert_file: certs.serverCert, key_file: certs.serverKey, ca_file: certs.caCert, require_client_cert: false, use_cn_as_username: true }
  // Anonymous clients may only use public/#; the CN "intruder" would grant dev/intruder/#.
  const own = await startSecureBroker({ listeners: [{ protocol: 'mqtts', tls }], acl: ACL })
  try {
    const url = `mqtts://127.0.0.1:${own.ports[0]}`
    const rogue = await connectOk(url, { protocolVersion: 5, ca: ca(), cert: readFileSync(certs.rogue.cert), key: readFileSync(certs.rogue.key), clientId: 'rogue-opt' })
    await assert.rejects(rogue.publishAsync('dev/intruder/x', '1', { qos: 1 }), (err: Error & { code?: number }) => err.code === 0x87)
    await rogue.publishAsync('public/x', 'anonymous is fine here', { qos: 1 })
    await rogue.endAsync()
    const good = await connectOk(url, { protocolVersion: 5, ...clientTls('device-2'), clientId: 'd2-opt' })
    await good.publishAsync('dev/device-2/x', '1', { qos: 1 })
    await good.endAsync()
  } finally {
    await own.close()
  }
})

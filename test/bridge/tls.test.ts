import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { connect } from 'mqtt'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'
import { makePasswordFile, makePki, type TestPki } from './certs.ts'
import { sleep, startUplink, waitOnline } from './fixtures.ts'

const tmp = tempDir('fieldgate-bridge-tls-')
let pki: TestPki
let pwFile: string
let auth: MosquittoHandle // TLS listener, username/password required
let mtls: MosquittoHandle // TLS listener, client certificate required
let authTls = 0
let mtlsPort = 0

before(async () => {
  pki = makePki(tmp.dir)
  pwFile = join(tmp.dir, 'token')
  writeFileSync(pwFile, 'device-token-42\n')
  const passwords = makePasswordFile(tmp.dir, 'Token', 'device-token-42')
  authTls = await freePort()
  auth = await startMosquitto({
    extra: ['allow_anonymous false', `password_file ${passwords}`, `listener ${authTls} 127.0.0.1`, `cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`],
  })
  mtlsPort = await freePort()
  mtls = await startMosquitto({
    extra: [`listener ${mtlsPort} 127.0.0.1`, `cafile ${pki.ca}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true'],
  })
})

after(async () => {
  await auth?.stop()
  await mtls?.stop()
  tmp.cleanup()
})

/** Receives on the upstream broker's plain listener (with credentials where needed). */
async function receiveOne(port: number, topic: string, creds: { username?: string; password?: string } = {}): Promise<() => Promise<string>> {
  const c = connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...creds })
  c.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
  })
  const got: string[] = []
  c.on('message', (_t, p) => got.push(p.toString()))
  await c.subscribeAsync(topic, { qos: 1 })
  return async () => {
    await waitFor(() => got.length > 0, 3000)
    await c.endAsync(true)
    return got[0] as string
  }
}

test('TLS with username "Token" and the password from a file connects and delivers', { timeout: 20_000 }, async () => {
  const next = await receiveOne(auth.port, 'tls/data', { username: 'Token', password: 'device-token-42' })
  const u = startUplink({ name: 'tls1', url: `mqtts://127.0.0.1:${authTls}`, username: 'Token', password_file: pwFile, tls: { ca_file: pki.ca } })
  try {
    await waitOnline(u)
    await u.publish({ topic: 'tls/data', payload: Buffer.from('secure'), qos: 1, retain: false })
    assert.equal(await next(), 'secure')
  } finally {
    await u.stop()
  }
})

test('a wrong password is refused and the uplink keeps retrying with the reason in its status', { timeout: 20_000 }, async () => {
  const u = startUplink({ name: 'tls2', url: `mqtts://127.0.0.1:${authTls}`, username: 'Token', password: 'wrong', tls: { ca_file: pki.ca } })
  try {
    await waitFor(() => (u.status().details.attempts as number) >= 2, 8000)
    assert.equal(u.online, false)
    assert.match(String(u.status().details.lastError), /not authori[sz]ed|bad user ?name or password/i)
  } finally {
    await u.stop()
  }
})

test('the server certificate is checked by default: unknown CA and wrong server name are refused', { timeout: 20_000 }, async () => {
  const noCa = startUplink({ name: 'tls3', url: `mqtts://127.0.0.1:${authTls}`, username: 'Token', password_file: pwFile })
  const wrongName = startUplink({
    name: 'tls4',
    url: `mqtts://127.0.0.1:${authTls}`,
    username: 'Token',
    password_file: pwFile,
    tls: { ca_file: pki.ca, servername: 'not-this-host.example' },
  })
  try {
    await waitFor(() => (noCa.status().details.attempts as number) >= 2 && (wrongName.status().details.attempts as number) >= 2, 8000)
    assert.equal(noCa.online, false)
    assert.equal(wrongName.online, false)
    assert.match(String(noCa.status().details.lastError), /self[- ]signed|unable to (get|verify)|certificate/i)
    assert.match(String(wrongName.status().details.lastError), /altnames|hostname|not-this-host/i)
  } finally {
    await noCa.stop()
    await wrongName.stop()
  }
})

test('mutual TLS with a passphrase-protected client key connects and delivers', { timeout: 20_000 }, async () => {
  const next = await receiveOne(mtls.port, 'mtls/data')
  const u = startUplink({
    name: 'mtls1',
    url: `mqtts://127.0.0.1:${mtlsPort}`,
    tls: { ca_file: pki.ca, cert_file: pki.clientCert, key_file: pki.clientKey, passphrase_file: pki.passphraseFile },
  })
  try {
    await waitOnline(u)
    await u.publish({ topic: 'mtls/data', payload: Buffer.from('mutual'), qos: 1, retain: false })
    assert.equal(await next(), 'mutual')
  } finally {
    await u.stop()
  }
})

test('without a client certificate the mutual-TLS listener refuses the uplink', { timeout: 20_000 }, async (t) => {
  const u = startUplink({ name: 'mtls2', url: `mqtts://127.0.0.1:${mtlsPort}`, tls: { ca_file: pki.ca } })
  try {
    await waitFor(() => (u.status().details.attempts as number) >= 2, 8000)
    await sleep(100)
    assert.equal(u.online, false)
    assert.ok(u.status().details.lastError, 'the refusal is reported')
    t.diagnostic(`refused: ${String(u.status().details.lastError)}`)
  } finally {
    await u.stop()
  }
})

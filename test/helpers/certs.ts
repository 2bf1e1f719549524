import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './tmp.ts'

export interface TestCerts {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
  /** The server key encrypted with the passphrase in `passphraseFile`. */
  serverKeyEncrypted: string
  passphraseFile: string
  /** Client certificates signed by the CA, by common name. */
  clients: Record<string, { cert: string; key: string }>
  /** A client certificate from a different, untrusted CA (CN "intruder"). */
  rogue: { cert: string; key: string }
  cleanup(): void
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 })
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`)
  const cert = join(dir, `${name}.crt`)
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`], dir)
  return { cert, key }
}

function sign(dir: string, ca: { cert: string; key: string }, name: string, cn: string, ext: string): { cert: string; key: string } {
  const key = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const cert = join(dir, `${name}.crt`)
  const extFile = join(dir, `${name}.ext`)
  writeFileSync(extFile, ext)
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`], dir)
  openssl(['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', extFile], dir)
  return { cert, key }
}

/**
 * A throwaway PKI made with the openssl CLI: a CA, a server certificate for 127.0.0.1 / ::1 /
 * localhost, client certificates with the given common names, and one client from an untrusted CA.
 */
export function makeTestCerts(clientNames: string[] = ['device-1']): TestCerts {
  const { dir, cleanup } = tempDir('fieldgate-certs-')
  const ca = makeCa(dir, 'ca')
  const server = sign(dir, ca, 'server', 'localhost', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  const clients: TestCerts['clients'] = {}
  for (const cn of clientNames) clients[cn] = sign(dir, ca, `client-${cn}`, cn, 'extendedKeyUsage=clientAuth\n')
  const rogueCa = makeCa(dir, 'rogue-ca')
  const rogue = sign(dir, rogueCa, 'rogue', 'intruder', 'extendedKeyUsage=clientAuth\n')
  const passphraseFile = join(dir, 'passphrase')
  writeFileSync(passphraseFile, 'test passphrase\n', { mode: 0o600 })
  const serverKeyEncrypted = join(dir, 'server-enc.key')
  openssl(['pkey', '-in', server.key, '-aes256', '-passout', `file:${passphraseFile}`, '-out', serverKeyEncrypted], dir)
  // Mosquitto drops to its own user: let it read this throwaway PKI (test keys only).
  chmodSync(dir, 0o755)
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644)
  return { dir, caCert: ca.cert, serverCert: server.cert, serverKey: server.key, serverKeyEncrypted, passphraseFile, clients, rogue, cleanup }
}

/**
 * A PEM CRL from `openssl ca -gencrl`, signed by the test CA (or the rogue CA), revoking the client
 * certificates named; `expired` backdates it so its nextUpdate has passed. Written to `out`.
 */
export function makeCrl(certs: TestCerts, out: string, revoked: string[], opts: { expired?: boolean; rogue?: boolean } = {}): string {
  const work = mkdtempSync(join(certs.dir, 'crl-'))
  const ca = opts.rogue ? 'rogue-ca' : 'ca'
  writeFileSync(join(work, 'index.txt'), '')
  writeFileSync(join(work, 'crlnumber'), '01\n')
  writeFileSync(join(work, 'ca.cnf'), `[ca]\ndefault_ca = test\n[test]\ndatabase = ${join(work, 'index.txt')}\ncrlnumber = ${join(work, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 2\n`)
  const base = ['-config', join(work, 'ca.cnf'), '-keyfile', join(certs.dir, `${ca}.key`), '-cert', join(certs.dir, `${ca}.crt`)]
  for (const cn of revoked) {
    const c = certs.clients[cn]
    if (!c) throw new Error(`no client certificate ${cn}`)
    openssl(['ca', ...base, '-revoke', c.cert], work)
  }
  const dates = opts.expired ? ['-crl_lastupdate', '20200101000000Z', '-crl_nextupdate', '20200102000000Z'] : []
  openssl(['ca', ...base, '-gencrl', ...dates, '-out', out], work)
  chmodSync(out, 0o644)
  return out
}

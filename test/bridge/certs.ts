import { execFileSync } from 'node:child_process'
import { chmodSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface TestPki {
  ca: string
  serverCert: string
  serverKey: string
  clientCert: string
  /** Encrypted with `passphrase`. */
  clientKey: string
  passphraseFile: string
  passphrase: string
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 })
}

/** A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate with an encrypted key. */
export function makePki(dir: string): TestPki {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']
  openssl(dir, ['req', '-x509', ...ec, '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fieldgate-test-ca'])
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  openssl(dir, ['req', ...ec, '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext'])
  const passphrase = 'correct horse'
  writeFileSync(join(dir, 'client.pass'), `${passphrase}\n`)
  openssl(dir, ['req', ...ec, '-keyout', 'client.key', '-passout', `pass:${passphrase}`, '-out', 'client.csr', '-subj', '/CN=gw1'])
  openssl(dir, ['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '2'])
  readable(dir)
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
    passphraseFile: join(dir, 'client.pass'),
    passphrase,
  }
}

/** A Mosquitto password file made by mosquitto_passwd. */
export function makePasswordFile(dir: string, user: string, password: string): string {
  const file = join(dir, 'passwords')
  execFileSync('mosquitto_passwd', ['-c', '-b', file, user, password], { stdio: 'ignore', timeout: 10_000 })
  readable(dir)
  return file
}

/** Mosquitto started as root drops to the "mosquitto" user before reading these files: let it read them. */
function readable(dir: string): void {
  chmodSync(dir, 0o755)
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644)
}

import { readFileSync } from 'node:fs'
import { createSecureContext, createServer, type TLSSocket, type TlsOptions } from 'node:tls'
import { FieldgateError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionInfo } from '../hooks.ts'
import type { ConnectionHandler, StartedListener } from './types.ts'
import { crlProblem } from './crl.ts'
import { listen } from './listen.ts'
import type { ListenerOptions } from '../options.ts'

export interface SecureListenerOptions {
  /** A TLS handshake (or, for WebSocket, the HTTP upgrade) that takes longer is dropped; default 10 s. */
  handshakeTimeout?: number
  /** WebSocket only: largest WebSocket message accepted; default 1 MiB plus headroom for the MQTT header. */
  maxPayload?: number
}

export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000

function readConfigFile(path: string, key: string, name: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new FieldgateError('CONFIG_INVALID', `broker listener "${name}": cannot read tls.${key} ${path}: ${(err as Error).message}`, {
      cause: err,
      details: { listener: name, key: `tls.${key}`, file: path },
    })
  }
}

/**
 * Server TLS options from a listener's `[tls]` table: certificate and key (PEM), an optional
 * passphrase file, a CA for client certificates (mutual TLS) with an optional CRL, the oldest TLS
 * version and the cipher list. Builds the context once, so a file OpenSSL cannot use fails here.
 * Throws CONFIG_INVALID naming the key (and file).
 */
export function tlsServerOptions(cfg: ListenerOptions, name: string): TlsOptions {
  const t = cfg.tls
  const bad = (msg: string, details: Record<string, unknown> = {}): FieldgateError =>
    new FieldgateError('CONFIG_INVALID', `broker listener "${name}": ${msg}`, { details: { listener: name, ...details } })
  if (!t) throw bad(`protocol "${cfg.protocol}" needs a [tls] table with cert_file and key_file`)
  if ((t.requireClientCert || t.useCnAsUsername || t.crlFile) && !t.caFile) {
    throw bad('tls.require_client_cert, tls.use_cn_as_username and tls.crl_file need tls.ca_file to verify client certificates')
  }
  const opts: TlsOptions = {
    cert: readConfigFile(t.certFile, 'cert_file', name),
    key: readConfigFile(t.keyFile, 'key_file', name),
    minVersion: t.minVersion,
    ciphers: t.ciphers,
    // The server's order decides, so a client offering a weaker suite first still gets a strong one.
    honorCipherOrder: true,
  }
  if (t.passphraseFile) opts.passphrase = readConfigFile(t.passphraseFile, 'passphrase_file', name).toString('utf8').replace(/\r?\n$/, '')
  if (t.caFile) {
    opts.ca = readConfigFile(t.caFile, 'ca_file', name)
    opts.requestCert = true
    opts.rejectUnauthorized = t.requireClientCert
  }
  if (t.crlFile && opts.ca) {
    const crl = readConfigFile(t.crlFile, 'crl_file', name)
    const problem = crlProblem(crl.toString('latin1'), opts.ca.toString())
    if (problem) throw bad(`tls.crl_file ${t.crlFile}: ${problem}`, { key: 'tls.crl_file', file: t.crlFile })
    opts.crl = crl
  }
  try {
    createSecureContext(opts)
  } catch (err) {
    const files = [t.certFile, t.keyFile, t.caFile, t.crlFile].filter((f) => f !== undefined).join(', ')
    throw new FieldgateError('CONFIG_INVALID', `broker listener "${name}": tls files ${files} do not make a TLS context: ${(err as Error).message}`, {
      cause: err,
      details: { listener: name, key: 'tls' },
    })
  }
  return opts
}

interface LiveSecureServer {
  name: string
  cfg: ListenerOptions
  server: { setSecureContext(options: TlsOptions): void }
}

/** TLS servers that are listening, so certificates can be re-read without restarting them. */
const liveSecureServers = new Set<LiveSecureServer>()

export function trackSecureServer(entry: LiveSecureServer): () => void {
  liveSecureServers.add(entry)
  return () => liveSecureServers.delete(entry)
}

/**
 * Re-reads certificate, key, passphrase, CA and CRL files of every listening TLS/WSS server (certificate
 * rotation and revocation on SIGHUP). All or nothing: every listener's files are read and checked first;
 * if any fails, none changes and every listener keeps its previous context (reported in `failed`).
 * New handshakes use the new files; open connections keep theirs.
 */
export function reloadCertificates(): { reloaded: string[]; failed: Array<{ listener: string; error: string }> } {
  const ready: Array<{ s: LiveSecureServer; opts: TlsOptions }> = []
  const failed: Array<{ listener: string; error: string }> = []
  for (const s of liveSecureServers) {
    try {
      ready.push({ s, opts: tlsServerOptions(s.cfg, s.name) })
    } catch (err) {
      failed.push({ listener: s.name, error: (err as Error).message })
    }
  }
  if (failed.length > 0) return { reloaded: [], failed }
  for (const { s, opts } of ready) s.server.setSecureContext(opts)
  return { reloaded: ready.map((r) => r.s.name), failed }
}

/** The verified client certificate's CN, when this listener takes user names from certificates. */
export function certUsername(cfg: ListenerOptions, socket: TLSSocket): string | undefined {
  if (!cfg.tls?.useCnAsUsername || !socket.authorized) return undefined
  const cn: unknown = socket.getPeerCertificate().subject?.CN
  const value = Array.isArray(cn) ? cn[0] : cn
  return typeof value === 'string' && value !== '' ? value : undefined
}

export function secureInfo(cfg: ListenerOptions, name: string, allowAnonymous: boolean, protocol: 'mqtts' | 'wss', socket: TLSSocket): ConnectionInfo {
  const info: ConnectionInfo = { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, listener: name, protocol, allowAnonymous }
  const cn = certUsername(cfg, socket)
  if (cn !== undefined) info.certCommonName = cn
  return info
}

/**
 * A refused client certificate (revoked, expired, unknown CA: OpenSSL's code, e.g. CERT_REVOKED) is logged at
 * info, so a technician can tell why a device is locked out; other failed handshakes (scans, wrong protocol) at debug.
 */
export function logHandshakeFailure(logger: Logger, name: string, socket: TLSSocket, err: Error): void {
  const certificate = socket.authorizationError
  if (certificate) logger.info({ listener: name, address: socket.remoteAddress, reason: String(certificate) }, 'TLS client certificate refused')
  else logger.debug({ listener: name, address: socket.remoteAddress, err: err.message }, 'TLS handshake failed')
}

/** MQTT over TLS. Handshakes that never finish are dropped after `handshakeTimeout`. */
export async function startTlsListener(
  cfg: ListenerOptions,
  name: string,
  allowAnonymous: boolean,
  onConnection: ConnectionHandler,
  logger: Logger,
  opts: SecureListenerOptions = {},
): Promise<StartedListener> {
  const server = createServer({ ...tlsServerOptions(cfg, name), handshakeTimeout: opts.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT, noDelay: true }, (socket) => {
    socket.setNoDelay(true)
    socket.on('error', () => undefined) // the connection logs; an unhandled error here would crash the process
    onConnection(socket, secureInfo(cfg, name, allowAnonymous, 'mqtts', socket))
  })
  server.on('tlsClientError', (err, socket) => {
    logHandshakeFailure(logger, name, socket, err)
    socket.destroy()
  })
  const started = await listen(server, cfg, name, 'mqtts', logger)
  const untrack = trackSecureServer({ name, cfg, server })
  return { ...started, close: () => (untrack(), started.close()) }
}


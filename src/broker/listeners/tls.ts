import { readFileSync } from 'node:fs'
import { createServer, type TLSSocket, type TlsOptions } from 'node:tls'
import type { ListenerConfig } from '../../config/index.ts'
import { FieldgateError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionInfo } from '../hooks.ts'
import type { ConnectionHandler, StartedListener } from './index.ts'
import { listen } from './listen.ts'

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
 * passphrase file, and a CA for client certificates (mutual TLS). Throws CONFIG_INVALID naming the key.
 */
export function tlsServerOptions(cfg: ListenerConfig, name: string): TlsOptions {
  const t = cfg.tls
  const bad = (msg: string): FieldgateError => new FieldgateError('CONFIG_INVALID', `broker listener "${name}": ${msg}`, { details: { listener: name } })
  if (!t) throw bad(`protocol "${cfg.protocol}" needs a [tls] table with cert_file and key_file`)
  if ((t.require_client_cert || t.use_cn_as_username) && !t.ca_file) throw bad('tls.require_client_cert and tls.use_cn_as_username need tls.ca_file to verify client certificates')
  const opts: TlsOptions = {
    cert: readConfigFile(t.cert_file, 'cert_file', name),
    key: readConfigFile(t.key_file, 'key_file', name),
    minVersion: 'TLSv1.2',
  }
  if (t.passphrase_file) opts.passphrase = readConfigFile(t.passphrase_file, 'passphrase_file', name).toString('utf8').replace(/\r?\n$/, '')
  if (t.ca_file) {
    opts.ca = readConfigFile(t.ca_file, 'ca_file', name)
    opts.requestCert = true
    opts.rejectUnauthorized = t.require_client_cert
  }
  return opts
}

interface LiveSecureServer {
  name: string
  cfg: ListenerConfig
  server: { setSecureContext(options: TlsOptions): void }
}

/** TLS servers that are listening, so certificates can be re-read without restarting them. */
const liveSecureServers = new Set<LiveSecureServer>()

export function trackSecureServer(entry: LiveSecureServer): () => void {
  liveSecureServers.add(entry)
  return () => liveSecureServers.delete(entry)
}

/**
 * Re-reads certificate, key, passphrase and CA files of every listening TLS/WSS server (certificate
 * rotation on SIGHUP). New handshakes use them; open connections keep theirs. A listener whose files
 * cannot be read keeps its previous certificate and is reported in `failed`.
 */
export function reloadCertificates(): { reloaded: string[]; failed: Array<{ listener: string; error: string }> } {
  const reloaded: string[] = []
  const failed: Array<{ listener: string; error: string }> = []
  for (const s of liveSecureServers) {
    try {
      s.server.setSecureContext(tlsServerOptions(s.cfg, s.name))
      reloaded.push(s.name)
    } catch (err) {
      failed.push({ listener: s.name, error: (err as Error).message })
    }
  }
  return { reloaded, failed }
}

/** The verified client certificate's CN, when this listener takes user names from certificates. */
export function certUsername(cfg: ListenerConfig, socket: TLSSocket): string | undefined {
  if (!cfg.tls?.use_cn_as_username || !socket.authorized) return undefined
  const cn: unknown = socket.getPeerCertificate().subject?.CN
  const value = Array.isArray(cn) ? cn[0] : cn
  return typeof value === 'string' && value !== '' ? value : undefined
}

export function secureInfo(cfg: ListenerConfig, name: string, allowAnonymous: boolean, protocol: 'mqtts' | 'wss', socket: TLSSocket): ConnectionInfo {
  const info: ConnectionInfo = { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, listener: name, protocol, allowAnonymous }
  const cn = certUsername(cfg, socket)
  if (cn !== undefined) info.certCommonName = cn
  return info
}

/** MQTT over TLS. Handshakes that never finish are dropped after `handshakeTimeout`. */
export async function startTlsListener(
  cfg: ListenerConfig,
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
    logger.debug({ listener: name, address: socket.remoteAddress, err: err.message }, 'TLS handshake failed')
    socket.destroy()
  })
  const started = await listen(server, cfg, name, 'mqtts', logger)
  const untrack = trackSecureServer({ name, cfg, server })
  return { ...started, close: () => (untrack(), started.close()) }
}


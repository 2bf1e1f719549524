import type { Logger } from '../../core/logger.ts'
import { isLoopbackHost } from '../auth/anonymous.ts'
import { startTcpListener } from './tcp.ts'
import { startTlsListener, type SecureListenerOptions } from './tls.ts'
import type { ConnectionHandler, SocketGate, StartedListener } from './types.ts'
import { startWsListener } from './ws.ts'
import type { ListenerOptions } from '../options.ts'

export type { ConnectionHandler, SocketGate, StartedListener } from './types.ts'

/** Loopback-bound listeners accept anonymous clients unless configured otherwise (as Mosquitto 2 does). */
export { isLoopbackHost } from '../auth/anonymous.ts'

export function listenerName(cfg: ListenerOptions, index: number): string {
  return cfg.name ?? `${cfg.protocol}-${index}`
}

export async function startListener(
  cfg: ListenerOptions,
  index: number,
  onConnection: ConnectionHandler,
  logger: Logger,
  secure: SecureListenerOptions = {},
  gate?: SocketGate,
): Promise<StartedListener> {
  const name = listenerName(cfg, index)
  const allowAnonymous = cfg.allowAnonymous ?? isLoopbackHost(cfg.host)
  if (cfg.protocol === 'mqtt') return startTcpListener(cfg, name, allowAnonymous, onConnection, logger)
  const started =
    cfg.protocol === 'mqtts'
      ? await startTlsListener(cfg, name, allowAnonymous, onConnection, logger, secure)
      : await startWsListener(cfg, name, allowAnonymous, onConnection, logger, secure)
  // A socket in a TLS handshake or HTTP upgrade is not yet the broker's: the gate counts it per address.
  if (gate !== undefined) started.server?.on('connection', gate)
  return started
}

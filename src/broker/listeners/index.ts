import type { Duplex } from 'node:stream'
import type { ListenerConfig } from '../../config/index.ts'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionInfo } from '../hooks.ts'
import { isLoopbackHost } from '../auth/anonymous.ts'
import { startTcpListener } from './tcp.ts'
import { startTlsListener, type SecureListenerOptions } from './tls.ts'
import { startWsListener } from './ws.ts'

export type ConnectionHandler = (stream: Duplex, info: ConnectionInfo) => void

export interface StartedListener {
  name: string
  protocol: string
  host: string
  port: number
  /** Stop accepting; existing connections are closed by the broker. */
  close(): Promise<void>
}

/** Loopback-bound listeners accept anonymous clients unless configured otherwise (as Mosquitto 2 does). */
export { isLoopbackHost } from '../auth/anonymous.ts'

export function listenerName(cfg: ListenerConfig, index: number): string {
  return cfg.name ?? `${cfg.protocol}-${index}`
}

export async function startListener(
  cfg: ListenerConfig,
  index: number,
  onConnection: ConnectionHandler,
  logger: Logger,
  secure: SecureListenerOptions = {},
): Promise<StartedListener> {
  const name = listenerName(cfg, index)
  const allowAnonymous = cfg.allow_anonymous ?? isLoopbackHost(cfg.host)
  switch (cfg.protocol) {
    case 'mqtt':
      return startTcpListener(cfg, name, allowAnonymous, onConnection, logger)
    case 'mqtts':
      return startTlsListener(cfg, name, allowAnonymous, onConnection, logger, secure)
    case 'ws':
    case 'wss':
      return startWsListener(cfg, name, allowAnonymous, onConnection, logger, secure)
  }
}

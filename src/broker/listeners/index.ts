import type { Duplex } from 'node:stream'
import type { ListenerConfig } from '../../config/index.ts'
import { FieldgateError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionInfo } from '../hooks.ts'
import { startTcpListener } from './tcp.ts'

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
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

export function listenerName(cfg: ListenerConfig, index: number): string {
  return cfg.name ?? `${cfg.protocol}-${index}`
}

export async function startListener(cfg: ListenerConfig, index: number, onConnection: ConnectionHandler, logger: Logger): Promise<StartedListener> {
  const name = listenerName(cfg, index)
  const allowAnonymous = cfg.allow_anonymous ?? isLoopbackHost(cfg.host)
  switch (cfg.protocol) {
    case 'mqtt':
      return startTcpListener(cfg, name, allowAnonymous, onConnection, logger)
    case 'mqtts':
    case 'ws':
    case 'wss':
      throw new FieldgateError(
        'CONFIG_INVALID',
        `broker listener "${name}": protocol "${cfg.protocol}" is not available in this build yet; use protocol = "mqtt" for now`,
        { details: { listener: name, protocol: cfg.protocol } },
      )
  }
}

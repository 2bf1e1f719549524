import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { ConnectionInfo } from '../hooks.ts'

export type ConnectionHandler = (stream: Duplex, info: ConnectionInfo) => void
/** Sees every TCP socket a TLS or WebSocket listener accepts, before its handshake; may destroy it. */
export type SocketGate = (socket: Socket) => void

export interface StartedListener {
  name: string
  protocol: string
  host: string
  port: number
  /** Stop accepting; existing connections are closed by the broker. */
  close(): Promise<void>
  /** The bound server ('connection' gives each accepted TCP socket). */
  server?: NodeJS.EventEmitter
}

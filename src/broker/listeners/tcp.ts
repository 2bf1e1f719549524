import { createServer, type Server, type Socket } from 'node:net'
import type { ListenerConfig } from '../../config/index.ts'
import { FieldgateError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionHandler, StartedListener } from './index.ts'

/** Plain MQTT over TCP. TCP_NODELAY is set so acknowledgements are not held back by Nagle. */
export function startTcpListener(
  cfg: ListenerConfig,
  name: string,
  allowAnonymous: boolean,
  onConnection: ConnectionHandler,
  logger: Logger,
): Promise<StartedListener> {
  const server: Server = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true)
    onConnection(socket, {
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      listener: name,
      protocol: 'mqtt',
      allowAnonymous,
    })
  })
  server.on('error', (err) => logger.error({ listener: name, err: err.message }, 'MQTT listener error'))
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new FieldgateError('CONFIG_INVALID', `broker listener "${name}" cannot listen on ${cfg.host}:${cfg.port}: ${err.message}; pick another port or stop what uses it`, {
          cause: err,
          details: { listener: name, host: cfg.host, port: cfg.port },
        }),
      )
    }
    server.once('error', onError)
    server.listen({ host: cfg.host, port: cfg.port }, () => {
      server.off('error', onError)
      const addr = server.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : cfg.port
      resolve({
        name,
        protocol: 'mqtt',
        host: cfg.host,
        port,
        close: () =>
          new Promise<void>((res) => {
            server.close(() => res())
          }),
      })
    })
  })
}

import { createServer, type Server, type Socket } from 'node:net'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionHandler, StartedListener } from './types.ts'
import { listen } from './listen.ts'
import type { ListenerOptions } from '../options.ts'

/** Plain MQTT over TCP. TCP_NODELAY is set so acknowledgements are not held back by Nagle. */
export function startTcpListener(
  cfg: ListenerOptions,
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
  return listen(server, cfg, name, 'mqtt', logger)
}

import { FieldgateError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { StartedListener } from './types.ts'
import type { ListenerOptions } from '../options.ts'

/** Binds a server (net, tls, http, https) for a listener; a bind failure names the listener, address and a fix. */
export function listen(
  server: { listen(o: { host: string; port: number }, cb: () => void): unknown; address(): unknown; close(cb: () => void): unknown } & NodeJS.EventEmitter,
  cfg: ListenerOptions,
  name: string,
  protocol: string,
  logger: Logger,
): Promise<StartedListener> {
  server.on('error', (err: Error) => logger.error({ listener: name, err: err.message }, `${protocol} listener error`))
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
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
      const port = typeof addr === 'object' && addr !== null && 'port' in addr && typeof addr.port === 'number' ? addr.port : cfg.port
      // Stop accepting at once; open connections are the broker's to close (waiting for them here would
      // block a shutdown that disconnects clients after closing listeners).
      resolve({ name, protocol, host: cfg.host, port, close: async () => void server.close(() => undefined), server })
    })
  })
}

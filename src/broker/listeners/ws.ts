import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { TLSSocket } from 'node:tls'
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws'
import type { Logger } from '../../core/logger.ts'
import type { ConnectionInfo } from '../hooks.ts'
import type { ConnectionHandler, StartedListener } from './types.ts'
import { listen } from './listen.ts'
import { DEFAULT_HANDSHAKE_TIMEOUT, secureInfo, tlsServerOptions, trackSecureServer, type SecureListenerOptions } from './tls.ts'
import type { ListenerOptions } from '../options.ts'

/** MQTT.js and browsers offer "mqtt"; old clients "mqttv3.1". The server must answer with one [MQTT-6.0.0-3]. */
function pickProtocol(offered: Set<string>): string | false {
  if (offered.has('mqtt')) return 'mqtt'
  if (offered.has('mqttv3.1')) return 'mqttv3.1'
  return false
}

/**
 * MQTT over WebSocket (`ws`) and secure WebSocket (`wss`) on `cfg.path` (default /mqtt), for browser
 * dashboards. Each WebSocket becomes a byte stream for the broker; MQTT packets may span or share
 * WebSocket messages [MQTT-6.0.0-2]. Requests for other paths get 400; plain HTTP gets 426.
 */
export async function startWsListener(
  cfg: ListenerOptions,
  name: string,
  allowAnonymous: boolean,
  onConnection: ConnectionHandler,
  logger: Logger,
  opts: SecureListenerOptions = {},
): Promise<StartedListener> {
  const secure = cfg.protocol === 'wss'
  const timeout = opts.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT
  // Slow HTTP upgrades are dropped like slow TLS handshakes; Node checks these timeouts only every
  // connectionsCheckingInterval (30 s by default), so check more often.
  const http = { noDelay: true, headersTimeout: timeout, requestTimeout: timeout, connectionsCheckingInterval: Math.max(100, Math.min(1000, timeout / 2)) }
  const server: Server = secure ? createHttpsServer({ ...tlsServerOptions(cfg, name), handshakeTimeout: timeout, ...http }) : createHttpServer(http)
  server.on('request', (_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end(`MQTT over WebSocket: connect to ${cfg.path} with subprotocol "mqtt"\n`)
  })
  server.on('clientError', (_err, socket) => socket.destroy())
  if (secure) {
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      logger.debug({ listener: name, address: socket.remoteAddress, err: err.message }, 'TLS handshake failed')
      socket.destroy()
    })
  }
  const wss = new WebSocketServer({
    server,
    path: cfg.path,
    maxPayload: opts.maxPayload ?? 1_048_576 + 16,
    perMessageDeflate: false,
    handleProtocols: pickProtocol,
  })
  wss.on('error', (err) => logger.error({ listener: name, err: err.message }, 'WebSocket listener error'))
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const socket = req.socket
    socket.setNoDelay(true)
    const info: ConnectionInfo = secure
      ? secureInfo(cfg, name, allowAnonymous, 'wss', socket as TLSSocket)
      : { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, listener: name, protocol: 'ws', allowAnonymous }
    const stream = createWebSocketStream(ws)
    stream.on('error', () => undefined) // the connection logs; an unhandled error here would crash the process
    onConnection(stream, info)
  })
  const started = await listen(server, cfg, name, secure ? 'wss' : 'ws', logger)
  const untrack = secure ? trackSecureServer({ name, cfg, server: server as HttpsServer }) : () => false
  return {
    ...started,
    close: async () => {
      untrack()
      wss.close()
      await started.close()
    },
  }
}

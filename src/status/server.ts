import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger, Status } from '../core/index.ts'
import { errorMessage } from '../core/index.ts'
import { createAuthoriser, type Authoriser } from './auth.ts'
import { EventHub } from './events.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { PAGE_HTML } from './page.ts'
import { scrub, scrubString } from './scrub.ts'
import { overallHealth, StatusState } from './state.ts'
import { systemSampler } from './system.ts'
import type { ReloadRecord, ReloadResult, StatusEvent, StatusEventSource, StatusServerConfig, SystemInfo } from './types.ts'

export interface StatusServerOptions {
  /** The `[status]` config section (src/config's StatusConfig has this shape). */
  config: StatusServerConfig
  info: { version: string; gatewayId: string; startedAt: number }
  /** Every subsystem's status by name, e.g. broker, store, uplink:cloud, driver:meter1. */
  sources: () => Record<string, Status>
  events?: StatusEventSource
  logger: Logger
  /** Re-reads and applies the config; called by POST /reload when status.allow_reload is on. */
  reload?: () => Promise<ReloadResult>
  system?: () => SystemInfo
  /** Where the disk figures are measured when `system` is not given. */
  dataDir?: string
}

export interface StatusServer {
  listen(): Promise<{ host: string; port: number }>
  close(): Promise<void>
  /** Records a reload done elsewhere (SIGHUP) so the page shows its outcome. */
  reportReload(result: ReloadResult, via?: string): void
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}
const PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"

export function createStatusServer(opts: StatusServerOptions): StatusServer {
  const { config, info, logger } = opts
  // The caller binds the module name (main passes a child logger).
  const log = logger
  const auth: Authoriser = createAuthoriser(config)
  const state = new StatusState()
  const sampler = opts.system ?? systemSampler(opts.dataDir ?? '.')
  let systemCache: { at: number; value: SystemInfo } | null = null
  const system = (): SystemInfo => {
    // One sample per second at most: /metrics and /status may both ask within a request burst.
    const now = Date.now()
    if (!systemCache || now - systemCache.at > 1000) systemCache = { at: now, value: sampler() }
    return systemCache.value
  }
  const hub = new EventHub({ maxClients: config.max_event_clients, maxBuffer: config.event_buffer, heartbeatMs: config.heartbeat, logger: log })
  let lastReload: ReloadRecord | null = null
  let metrics: Promise<Metrics> | null = null
  let unsubscribe: (() => void) | null = null
  let reloading = false

  const safeSources = (): Record<string, Status> => {
    try {
      return opts.sources()
    } catch (err) {
      return { status: { health: 'degraded', reason: `reading module status failed: ${errorMessage(err)}`, details: {} } }
    }
  }

  const snapshot = (): Record<string, unknown> => {
    const sources = safeSources()
    const overall = overallHealth(sources)
    return scrub({
      version: info.version,
      gateway_id: info.gatewayId,
      started_at: info.startedAt,
      now: Date.now(),
      uptime_s: Math.round((Date.now() - info.startedAt) / 1000),
      health: overall.health,
      problems: overall.reasons,
      sources,
      devices: Object.fromEntries(state.devices),
      recent: state.recentProblems(),
      system: system(),
      reload: { allowed: config.allow_reload && opts.reload !== undefined, last: lastReload },
      events: { clients: hub.size, sent: hub.sent, dropped_clients: hub.dropped },
    }) as Record<string, unknown>
  }

  const onEvent = (e: StatusEvent): void => {
    const clean: StatusEvent = e.type === 'state' && e.reason !== undefined ? { ...e, reason: scrubString(e.reason) } : e
    state.apply(clean)
    hub.publish(clean)
  }

  const reportReload = (result: ReloadResult, via = 'signal'): void => {
    lastReload = { at: Date.now(), via, ok: result.ok, ...(result.reason === undefined ? {} : { reason: scrubString(result.reason) }) }
    if (!result.ok) state.note({ ts: lastReload.at, source: 'config', state: 'reload refused', ...(lastReload.reason === undefined ? {} : { reason: lastReload.reason }) })
    hub.publish({ type: 'state', source: 'config', state: result.ok ? 'reloaded' : 'reload refused', ...(lastReload.reason === undefined ? {} : { reason: lastReload.reason }), ts: lastReload.at })
  }

  const send = (res: ServerResponse, code: number, body: string, type: string, extra: Record<string, string> = {}): void => {
    res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra })
    res.end(body)
  }
  const json = (res: ServerResponse, code: number, value: unknown): void => send(res, code, JSON.stringify(value), 'application/json; charset=utf-8')
  const deny = (res: ServerResponse): void => {
    const challenge = auth.scheme === 'basic' || auth.scheme === 'both' ? { 'www-authenticate': 'Basic realm="fieldgate", charset="UTF-8"' } : { 'www-authenticate': 'Bearer realm="fieldgate"' }
    send(res, 401, JSON.stringify({ error: 'unauthorised: give the status token (Authorization: Bearer …) or the basic-auth user' }), 'application/json; charset=utf-8', challenge)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://status.invalid')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const method = req.method ?? 'GET'
    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) {
      const overall = overallHealth(safeSources())
      const code = overall.health === 'down' ? 503 : 200
      return json(res, code, { status: overall.health, problems: overall.reasons })
    }
    if (path === '/reload') {
      if (method !== 'POST') return send(res, 405, 'use POST\n', 'text/plain; charset=utf-8', { allow: 'POST' })
      if (!auth.check(req, url)) return deny(res)
      if (!config.allow_reload || !opts.reload) return json(res, 403, { ok: false, reason: 'reload from the status page is off (status.allow_reload = false)' })
      // A custom header cannot be set by a cross-site form, so it guards against CSRF with basic auth.
      if (req.headers['x-fieldgate-reload'] !== '1') return json(res, 400, { ok: false, reason: 'send the header x-fieldgate-reload: 1' })
      if (reloading) return json(res, 409, { ok: false, reason: 'a reload is already running' })
      reloading = true
      try {
        const result = await opts.reload()
        reportReload(result, 'status page')
        return json(res, result.ok ? 200 : 422, lastReload)
      } catch (err) {
        reportReload({ ok: false, reason: errorMessage(err) }, 'status page')
        return json(res, 500, lastReload)
      } finally {
        reloading = false
      }
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'read-only\n', 'text/plain; charset=utf-8', { allow: 'GET' })
    // The page shell holds no data; with a bearer token it asks for the token itself. Basic auth
    // protects it too so the browser prompts once and then sends the credentials everywhere.
    const shellIsPublic = auth.scheme === 'bearer'
    if (path === '/' && shellIsPublic) return send(res, 200, PAGE_HTML, 'text/html; charset=utf-8', { 'content-security-policy': PAGE_CSP })
    if (!auth.check(req, url)) return deny(res)
    switch (path) {
      case '/':
        return send(res, 200, PAGE_HTML, 'text/html; charset=utf-8', { 'content-security-policy': PAGE_CSP })
      case '/status':
        return json(res, 200, snapshot())
      case '/metrics': {
        metrics ??= createMetrics({
          sources: safeSources,
          readings: () => state.readings(),
          system,
          uptimeSeconds: () => (Date.now() - info.startedAt) / 1000,
          info,
        })
        const m = await metrics
        return send(res, 200, await m.render(), m.contentType)
      }
      case '/events':
        if (!hub.add(res)) return json(res, 503, { error: `too many /events clients (status.max_event_clients = ${config.max_event_clients})` })
        return
      default:
        return json(res, 404, { error: `no such endpoint ${path}; try /, /status, /healthz, /metrics, /events` })
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: errorMessage(err), path: (req.url ?? '').split('?')[0] }, 'status: request failed')
      if (!res.headersSent) json(res, 500, { error: 'internal error; see the gateway log' })
      else res.destroy()
    })
  })
  server.requestTimeout = 10_000
  server.headersTimeout = 10_000
  server.keepAliveTimeout = 5_000

  return {
    reportReload,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(new Error(`status: cannot listen on ${config.host}:${config.port} (status.host, status.port): ${err.message}`, { cause: err }))
        server.once('error', onError)
        server.listen({ host: config.host, port: config.port }, () => {
          server.off('error', onError)
          if (opts.events && !unsubscribe) unsubscribe = opts.events.on(onEvent)
          const addr = server.address() as AddressInfo
          log.info({ host: addr.address, port: addr.port, auth: auth.scheme }, 'status page listening')
          resolve({ host: addr.address, port: addr.port })
        })
      })
    },
    close() {
      unsubscribe?.()
      unsubscribe = null
      hub.close()
      return new Promise((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}

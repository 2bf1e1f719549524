import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger, Status } from '../core/index.ts'
import { errorMessage, FieldgateError, isLoopbackAddress } from '../core/index.ts'
import { allowedHosts, createAuthoriser, type Authoriser } from './auth.ts'
import { driversSummary, mergeDevices } from './devices.ts'
import { EventHub } from './events.ts'
import { gatewayHealth, LoopMonitor } from './health.ts'
import { PointHistory, UPLINK_BUCKET_MS } from './history.ts'
import { json, jsonGzip, precompress, send, sendPrecompressed } from './http.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { PAGE_HTML } from './page.ts'
import { scrub, scrubString } from './scrub.ts'
import { ReloadLog } from './reload.ts'
import { StatusState } from './state.ts'
import { systemSampler } from './system.ts'
import type { DemoCloudControl, ReloadRecord, ReloadResult, StatusEvent, StatusEventSource, StatusServerConfig, SystemInfo } from './types.ts'
import { SourceWatch } from './watch.ts'

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
  /** Only in the built-in demo: cut and restore its stand-in cloud broker from the page. */
  demo?: DemoCloudControl
}

export interface StatusServer {
  listen(): Promise<{ host: string; port: number }>
  close(): Promise<void>
  /** Records a reload done elsewhere (SIGHUP) so the page shows its outcome. */
  reportReload(result: ReloadResult, via?: string): void
  /** What GET /status answers (scrubbed), for remote diagnostics. */
  snapshot(): Record<string, unknown>
}

const PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
/** The page, gzipped once when this module loads (44 kB as text, 14.7 kB gzipped). */
export const PAGE = precompress(PAGE_HTML, 'text/html; charset=utf-8', { 'content-security-policy': PAGE_CSP })

export function createStatusServer(opts: StatusServerOptions): StatusServer {
  const { config, info, logger } = opts
  // The caller binds the module name (main passes a child logger).
  const log = logger
  const auth: Authoriser = createAuthoriser(config)
  const loopback = isLoopbackAddress(config.host)
  if (!loopback && auth.open && config.allow_anonymous !== true) {
    throw new FieldgateError('CONFIG_INVALID', `status.host "${config.host}" is reachable from the network but the status page has no login: set status.token_file or [status.basic_auth], or status.allow_anonymous = true`)
  }
  const hostAllowed = allowedHosts(config.host)
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
  const reloads = new ReloadLog()
  const loop = new LoopMonitor()
  const history = new PointHistory()
  const watch = new SourceWatch(state)
  let watchTimer: NodeJS.Timeout | null = null
  const tick = (): void => watch.tick(safeSources(), Date.now())
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
    const all = safeSources()
    const devices = mergeDevices(all.drivers, state.devices)
    const overall = gatewayHealth(all, loop, devices)
    const sources = all.drivers ? { ...all, drivers: driversSummary(all.drivers) } : all
    return scrub({
      version: info.version,
      gateway_id: info.gatewayId,
      started_at: info.startedAt,
      now: Date.now(),
      uptime_s: Math.round((Date.now() - info.startedAt) / 1000),
      health: overall.health,
      problems: overall.reasons,
      sources,
      devices,
      recent: state.recentProblems(),
      system: { ...system(), event_loop: loop.figures() },
      reload: reloads.view(config.allow_reload && opts.reload !== undefined),
      history: { points: history.size, bytes: history.bytes },
      events: { clients: hub.size, sent: hub.sent, dropped_clients: hub.dropped },
      ...(opts.demo ? { demo: { cloud: opts.demo.state() } } : {}),
    }) as Record<string, unknown>
  }

  const onEvent = (e: StatusEvent): void => {
    const clean: StatusEvent = e.type === 'state' && e.reason !== undefined ? { ...e, reason: scrubString(e.reason) } : e
    state.apply(clean)
    // A failed read carries no measured value (Modbus and serial send 0): it is not charted.
    if (clean.type === 'reading' && clean.reading.quality !== 'error') history.add(clean.reading.device, clean.reading.point, clean.reading.ts, clean.reading.value)
    hub.publish(clean)
  }

  const reportReload = (result: ReloadResult, via = 'signal'): ReloadRecord => {
    const rec = reloads.record(result, via, Date.now())
    const why = rec.reason === undefined ? {} : { reason: rec.reason }
    if (!rec.ok) state.note({ ts: rec.at, source: 'config', state: 'reload refused', ...why })
    hub.publish({ type: 'state', source: 'config', state: rec.ok ? 'reloaded' : 'reload refused', ...why, ts: rec.at })
    return rec
  }

  const deny = (res: ServerResponse): void => {
    const challenge = auth.scheme === 'basic' || auth.scheme === 'both' ? { 'www-authenticate': 'Basic realm="fieldgate", charset="UTF-8"' } : { 'www-authenticate': 'Bearer realm="fieldgate"' }
    send(res, 401, JSON.stringify({ error: 'unauthorised: give the status token (Authorization: Bearer …) or the basic-auth user' }), 'application/json; charset=utf-8', challenge)
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // DNS rebinding: a web page whose name now resolves to 127.0.0.1 would reach a loopback-only page as
    // its own origin. Its requests carry its own name in Host, so only loopback names are answered.
    // /healthz too: local probes send a loopback Host, and its problems name devices and servers.
    if (loopback && !hostAllowed(req.headers.host)) {
      return json(res, 421, { error: `Host ${JSON.stringify(req.headers.host)} is not a name of this status page, which is on ${config.host} only: open http://127.0.0.1:${config.port}/` })
    }
    const url = new URL(req.url ?? '/', 'http://status.invalid')
    const path = url.pathname.replace(/\/+$/, '') || '/'
    const method = req.method ?? 'GET'
    if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) {
      const all = safeSources()
      const overall = gatewayHealth(all, loop, mergeDevices(all.drivers, state.devices))
      const code = overall.health === 'down' ? 503 : 200
      return json(res, code, { status: overall.health, problems: overall.reasons })
    }
    if (path === '/demo/cloud') {
      if (method !== 'POST') return send(res, 405, 'use POST\n', 'text/plain; charset=utf-8', { allow: 'POST' })
      if (!opts.demo) return json(res, 404, { error: 'no demo cloud: this control exists only in the built-in demo (fieldgate run without --config)' })
      if (!auth.check(req, url)) return deny(res)
      if (req.headers['x-fieldgate-demo'] !== '1') return json(res, 400, { ok: false, reason: 'send the header x-fieldgate-demo: 1' })
      const want = url.searchParams.get('state')
      if (want !== 'up' && want !== 'down') return json(res, 400, { ok: false, reason: 'give ?state=up or ?state=down' })
      await opts.demo.set(want === 'up')
      log.warn({ cloud: want }, want === 'up' ? 'demo: stand-in cloud restored' : 'demo: stand-in cloud cut (the backlog grows until it is restored)')
      return json(res, 200, { ok: true, cloud: opts.demo.state() })
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
        return json(res, result.ok ? 200 : 422, reportReload(result, 'status page'))
      } catch (err) {
        return json(res, 500, reportReload({ ok: false, reason: errorMessage(err) }, 'status page'))
      } finally {
        reloading = false
      }
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'read-only\n', 'text/plain; charset=utf-8', { allow: 'GET' })
    // The page shell holds no data; with a bearer token it asks for the token itself. Basic auth
    // protects it too so the browser prompts once and then sends the credentials everywhere.
    const shellIsPublic = auth.scheme === 'bearer'
    if (path === '/' && shellIsPublic) return sendPrecompressed(req, res, PAGE)
    if (!auth.check(req, url)) return deny(res)
    switch (path) {
      case '/':
        return sendPrecompressed(req, res, PAGE)
      case '/status':
        return json(res, 200, snapshot())
      case '/history': {
        const now = Date.now()
        const device = url.searchParams.get('device')
        const point = url.searchParams.get('point')
        if (device !== null && point !== null) {
          const series = history.series(device, point, now)
          if (!series) return json(res, 404, { error: `no numeric history for ${device}/${point}` })
          return json(res, 200, { now, device, point, series })
        }
        if (url.searchParams.get('only') === 'uplinks') return json(res, 200, { now, uplinks: watch.uplinks.series(now), uplink_step: UPLINK_BUCKET_MS })
        return jsonGzip(req, res, { now, ...history.sparklines(now), uplinks: watch.uplinks.series(now), uplink_step: UPLINK_BUCKET_MS })
      }
      case '/metrics': {
        metrics ??= createMetrics({
          sources: safeSources,
          readings: () => state.readings(),
          system,
          uptimeSeconds: () => (Date.now() - info.startedAt) / 1000,
          info,
          loop: () => loop.figures(),
        })
        const m = await metrics
        return send(res, 200, await m.render(), m.contentType)
      }
      case '/events':
        if (!hub.add(res)) return json(res, 503, { error: `too many /events clients (status.max_event_clients = ${config.max_event_clients})` })
        return
      default:
        return json(res, 404, { error: `no such endpoint ${path}; try /, /status, /history, /healthz, /metrics, /events` })
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
    snapshot,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(new Error(`status: cannot listen on ${config.host}:${config.port} (status.host, status.port): ${err.message}${(err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? '; pick another status.port or stop what uses it' : ''}`, { cause: err }))
        server.once('error', onError)
        server.listen({ host: config.host, port: config.port }, () => {
          server.off('error', onError)
          if (opts.events && !unsubscribe) unsubscribe = opts.events.on(onEvent)
          loop.start()
          if (!watchTimer) {
            tick()
            watchTimer = setInterval(tick, 2000)
            watchTimer.unref()
          }
          const addr = server.address() as AddressInfo
          log.info({ host: addr.address, port: addr.port, auth: auth.scheme }, 'status page listening')
          if (!loopback && auth.open) log.warn({ host: addr.address, allowReload: config.allow_reload }, 'status page open to anyone on the network (status.allow_anonymous = true)')
          resolve({ host: addr.address, port: addr.port })
        })
      })
    },
    close() {
      unsubscribe?.()
      unsubscribe = null
      if (watchTimer) clearInterval(watchTimer)
      watchTimer = null
      loop.stop()
      hub.close()
      return new Promise((resolve) => {
        if (!server.listening) return resolve()
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import type { Logger, Status } from '../core/index.ts'
import { errorMessage, FieldgateError, isLoopbackAddress } from '../core/index.ts'
import { createAuthoriser, type Authoriser } from './auth.ts'
import { driversSummary, mergeDevices } from './devices.ts'
import { EventHub } from './events.ts'
import { gatewayHealth, LoopMonitor } from './health.ts'
import { PointHistory, UplinkHistory, UPLINK_BUCKET_MS } from './history.ts'
import { acceptsGzip, precompress, SECURITY_HEADERS, sendPrecompressed } from './http.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { PAGE_HTML } from './page.ts'
import { scrub, scrubString } from './scrub.ts'
import { StatusState } from './state.ts'
import { systemSampler } from './system.ts'
import type { DemoCloudControl, ReloadRecord, ReloadResult, StatusEvent, StatusEventSource, StatusServerConfig, SystemInfo } from './types.ts'

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
}

const PAGE_CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'"
/** The page, gzipped once when this module loads (41.9 kB as text, 13.8 kB gzipped at 0bf864f). */
export const PAGE = precompress(PAGE_HTML, 'text/html; charset=utf-8', { 'content-security-policy': PAGE_CSP })

/**
 * The Host header values a loopback-bound page answers: localhost, 127.0.0.1, [::1] and the configured
 * host, with or without a port. No Host at all (HTTP/1.0 tools) is let through: browsers always send one.
 */
export function allowedHosts(configured: string): (host: string | undefined) => boolean {
  const names = new Set(['localhost', '127.0.0.1', '[::1]', configured.toLowerCase().includes(':') && !configured.startsWith('[') ? `[${configured.toLowerCase()}]` : configured.toLowerCase()])
  return (host) => {
    if (host === undefined) return true
    const h = host.trim().toLowerCase()
    const m = /^(\[[^\]]*\]|[^:]*)(?::\d{1,5})?$/.exec(h)
    return m !== null && names.has((m[1] as string).replace(/\.$/, ''))
  }
}

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
  let lastReload: ReloadRecord | null = null
  let lastGoodReload: ReloadRecord | null = null
  /** Failed reloads since the last good one: the page shows them in its header until a reload succeeds. */
  let failedSinceGood: ReloadRecord[] = []
  let reloadsFailed = 0
  let reloadsApplied = 0
  const loop = new LoopMonitor()
  const history = new PointHistory()
  const uplinkHistory = new UplinkHistory()
  let uplinkTimer: NodeJS.Timeout | null = null
  let lastSampleBucket = -1
  const lastHealth = new Map<string, { health: string; reason?: string }>()
  /**
   * Every 2 s: a module whose health changes is listed under recent problems (with its reason, and
   * when it is ok again), and once per bucket the uplinks' backlog and sent count are sampled.
   */
  const tick = (): void => {
    const all = safeSources()
    const now = Date.now()
    for (const [name, s] of Object.entries(all)) {
      const prev = lastHealth.get(name)
      if (prev && prev.health !== s.health) {
        const what = name === 'drivers' ? null : name
        if (what) state.note({ ts: now, source: what, state: s.health === 'ok' ? 'ok again' : s.health, ...(s.reason === undefined ? {} : { reason: s.reason }) })
      }
      lastHealth.set(name, { health: s.health })
    }
    const bucket = Math.floor(now / UPLINK_BUCKET_MS)
    if (bucket !== lastSampleBucket) {
      lastSampleBucket = bucket
      sampleUplinks(all, now)
    }
  }
  const sampleUplinks = (all: Record<string, Status>, now: number): void => {
    const figures: Record<string, { backlog: number | null; sent: number | null }> = {}
    for (const [name, s] of Object.entries(all)) {
      if (!name.startsWith('uplink:')) continue
      const d = s.details as { backlog?: unknown; published?: unknown }
      figures[name.slice('uplink:'.length)] = { backlog: typeof d.backlog === 'number' ? d.backlog : null, sent: typeof d.published === 'number' ? d.published : null }
    }
    uplinkHistory.sample(now, figures)
  }
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
      reload: {
        allowed: config.allow_reload && opts.reload !== undefined,
        last: lastReload,
        last_good: lastGoodReload,
        failed_since_last_good: failedSinceGood.length,
        first_failed_since_last_good: failedSinceGood[0] ?? null,
        applied_total: reloadsApplied,
        failed_total: reloadsFailed,
      },
      history: { points: history.size, bytes: history.bytes },
      events: { clients: hub.size, sent: hub.sent, dropped_clients: hub.dropped },
      ...(opts.demo ? { demo: { cloud: opts.demo.state() } } : {}),
    }) as Record<string, unknown>
  }

  const onEvent = (e: StatusEvent): void => {
    const clean: StatusEvent = e.type === 'state' && e.reason !== undefined ? { ...e, reason: scrubString(e.reason) } : e
    state.apply(clean)
    if (clean.type === 'reading') history.add(clean.reading.device, clean.reading.point, clean.reading.ts, clean.reading.value)
    hub.publish(clean)
  }

  const reportReload = (result: ReloadResult, via = 'signal'): void => {
    lastReload = { at: Date.now(), via, ok: result.ok, ...(result.reason === undefined ? {} : { reason: scrubString(result.reason) }) }
    if (result.ok) {
      reloadsApplied++
      lastGoodReload = lastReload
      failedSinceGood = []
    } else {
      reloadsFailed++
      // Bounded: the first failure (since when) and the latest (why now) are what the page shows.
      failedSinceGood = failedSinceGood.length < 2 ? [...failedSinceGood, lastReload] : [failedSinceGood[0] as ReloadRecord, lastReload]
    }
    if (!result.ok) state.note({ ts: lastReload.at, source: 'config', state: 'reload refused', ...(lastReload.reason === undefined ? {} : { reason: lastReload.reason }) })
    hub.publish({ type: 'state', source: 'config', state: result.ok ? 'reloaded' : 'reload refused', ...(lastReload.reason === undefined ? {} : { reason: lastReload.reason }), ts: lastReload.at })
  }

  const send = (res: ServerResponse, code: number, body: string, type: string, extra: Record<string, string> = {}): void => {
    res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra })
    res.end(body)
  }
  const json = (res: ServerResponse, code: number, value: unknown): void => send(res, code, JSON.stringify(value), 'application/json; charset=utf-8')
  /** The hour of every point is ~100 kB of JSON at 100 points and mostly repeats: gzip it for phones. */
  const jsonGzip = (req: IncomingMessage, res: ServerResponse, value: unknown): void => {
    const body = JSON.stringify(value)
    if (!acceptsGzip(req.headers['accept-encoding']) || body.length < 2048) return json(res, 200, value)
    const gz = gzipSync(body)
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding', 'content-length': gz.length })
    res.end(gz)
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
        if (url.searchParams.get('only') === 'uplinks') return json(res, 200, { now, uplinks: uplinkHistory.series(now), uplink_step: UPLINK_BUCKET_MS })
        return jsonGzip(req, res, { now, ...history.sparklines(now), uplinks: uplinkHistory.series(now), uplink_step: UPLINK_BUCKET_MS })
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
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(new Error(`status: cannot listen on ${config.host}:${config.port} (status.host, status.port): ${err.message}`, { cause: err }))
        server.once('error', onError)
        server.listen({ host: config.host, port: config.port }, () => {
          server.off('error', onError)
          if (opts.events && !unsubscribe) unsubscribe = opts.events.on(onEvent)
          loop.start()
          if (!uplinkTimer) {
            tick()
            uplinkTimer = setInterval(tick, 2000)
            uplinkTimer.unref()
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
      if (uplinkTimer) clearInterval(uplinkTimer)
      uplinkTimer = null
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

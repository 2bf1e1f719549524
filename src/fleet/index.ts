import { errorMessage, redactText, systemClock, Throttle, type Clock, type Logger, type Status, type TimerHandle } from '../core/index.ts'
import { RateLimit } from './bounds.ts'
import { checkConfigSignature, type OperatorKey } from './config-signature.ts'
import { diagnosticsAnswer, type Diagnostics } from './diagnostics.ts'
import { fingerprint, inventory, marksOffline, type InventoryFacts } from './inventory.ts'
import { MgmtLink } from './link.ts'
import { RemoteConfig, type ConfigHost, type Current, type Outcome } from './remote-config.ts'
import { parseRequest, replyBody, type ReplyRoute, type Request } from './rpc.ts'
import { coldStartSettled, reportStart } from './start-report.ts'
export { COLD_START_SETTLED_MS, coldStartSettled } from './start-report.ts'
import { FleetStore, type StartState } from './store.ts'
import { mgmtTopics, type MgmtTopics } from './topics.ts'
import { UpdateTransfer } from './transfer.ts'
import type { UpdateHost } from './update-host.ts'

export { FleetStore, configHash, writeAtomic, type StartState } from './store.ts'
export { isManagementTopic, mgmtTopics } from './topics.ts'
export type { LinkSpec } from './link.ts'
export type { CheckLine, ConfigHost, Current, Validation } from './remote-config.ts'
export type { InventoryFacts, UpdateFacts } from './inventory.ts'
export type { ChunkOutcome, Resumed, TransferPlan, UpdateHost } from './update-host.ts'
export { sharedTransferTopic, transferId } from './topics.ts'
export { checkConfigSignature, configSigningBytes, type ConfigSignature, type OperatorKey } from './config-signature.ts'

export interface FleetSettings {
  commitDeadline: number
  inventoryInterval: number
  protocolVersion: 4 | 5
}

export interface FleetOptions<C> {
  /** The management id: `<id>` in `fieldgate/<id>/mgmt/...`. */
  id: string
  logger: Logger
  store: FleetStore
  current: Current<C>
  host: ConfigHost<C>
  settings(c: C): FleetSettings
  facts(): InventoryFacts
  /** Remote diagnostics: recent log lines and the /status JSON. */
  diagnostics?: Diagnostics
  /** Updates of the executable over the channel; without it `update` requests are refused. */
  update?: UpdateHost
  /** The operator keys a config push must be signed by under config `c`; none: no signature needed. */
  operatorKeys?(c: C): OperatorKey[]
  /** Diagnostics requests (inventory, logs, status): `burst` at once, then one per `everyMs`. Default 5 and 2 s. */
  rate?: { burst: number; everyMs: number }
  /** What the start found in the state directory (an interrupted commit window), reported once online. */
  started?: StartState
  clock?: Clock
}

/** Longest commit deadline a request may ask for. */
const MAX_DEADLINE_MS = 600_000

export interface Fleet<C> {
  start(): void
  stop(): Promise<void>
  /** The config the gateway runs now (its hash names it in the inventory). */
  current(): { hash: string; source: 'file' | 'remote' }
  /** True while a pushed config is in its commit window: reloads from the file must wait. */
  inTrial(): boolean
  /** The gateway reloaded another config by itself (SIGHUP): run the management link on it. */
  adopt(c: Current<C>): void
  status(): Status
}

/** The management channel: inventory, events, and requests answered over MQTT 5 request/response or the 3.1.1 fallback. */
export function createFleet<C>(o: FleetOptions<C>): Fleet<C> {
  const clock = o.clock ?? systemClock
  const log = o.logger.child({ module: 'fleet' })
  const topics: MgmtTopics = mgmtTopics(o.id)
  let settings = o.settings(o.current.config)
  let lastPrint = ''
  let lastInventoryAt = 0
  let timer: TimerHandle | null = null
  let requests = 0
  let limited = 0
  const rate = new RateLimit(o.rate?.burst ?? 5, o.rate?.everyMs ?? 2000, clock.now())

  const describe = (online: boolean): Record<string, unknown> => {
    const c = remote.current
    return inventory(o.id, online, { ...o.facts(), transfer: transfer?.status() ?? null }, { hash: c.hash, source: c.source, committedAt: c.committedAt }, clock.now(), settings.protocolVersion)
  }
  const link = new MgmtLink(
    o.host.linkSpec(o.current.config),
    {
      will: () => ({ topic: topics.inventory, payload: Buffer.from(JSON.stringify({ ...describe(false), reason: 'connection lost (Last Will)' })) }),
      subscription: topics.requests,
      watch: topics.inventory,
      onOnline: () => {
        publishInventory(true)
        transfer?.onOnline()
      },
      onMessage: (topic, payload, props, retained) => (topic === topics.inventory ? watched(payload, retained) : void handle(topic, payload, props, retained)),
      onSlowMessage: (topic, payload): Promise<void> | null => (transfer?.isChunkTopic(topic) ? transfer.onChunk(topic, payload) : null),
      isSlow: (topic) => transfer?.isChunkTopic(topic) ?? false,
    },
    log,
    clock,
  )
  const event = (state: string, fields: Record<string, unknown>): Promise<void> =>
    link.publishAcked(topics.events, Buffer.from(JSON.stringify({ id: o.id, state, ...fields, ts: new Date(clock.now()).toISOString() })), { qos: 1, retain: false })
  const remote = new RemoteConfig<C>(o.current, o.host, link, o.store, log, event, clock)
  const transfer: UpdateTransfer | null = o.update ? new UpdateTransfer(o.update, link, topics, log.child({ module: 'update' }), event, () => remote.inTrial, clock) : null
  /** The last update outcome reported on the events topic (its time), so each is reported once. */
  let reportedUpdate = o.store.readReportedUpdate()

  function reportUpdateOutcome(): void {
    const u = o.facts().update
    if (!u || u.at === reportedUpdate || !link.online) return
    reportedUpdate = u.at
    const state = u.outcome === 'committed' ? 'committed' : 'rolled_back'
    log.info({ version: u.version, outcome: u.outcome }, `update outcome reported: version ${u.version} ${u.outcome}`)
    void event(state, { op: 'update', version: u.version, previous_version: u.previousVersion, reason: redactText(u.reason).slice(0, 500), at: u.at, after: 'restart' })
    try {
      o.store.writeReportedUpdate(u.at)
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'cannot record that the update outcome was reported')
    }
  }

  function publishInventory(force: boolean): void {
    if (!link.online) return
    const inv = describe(true)
    const print = fingerprint(inv)
    if (!force && print === lastPrint && clock.now() - lastInventoryAt < settings.inventoryInterval) return
    lastPrint = print
    lastInventoryAt = clock.now()
    link.publish(topics.inventory, Buffer.from(JSON.stringify(inv)), { qos: 1, retain: true })
  }

  // A broker cluster publishes a dead node's Wills once the others miss its heartbeats, which can be after
  // this gateway failed over to another node: its inventory would say offline until the next refresh.
  const reassert = new Throttle(clock, 1000, () => {
    if (!link.online) return
    log.info({ topic: topics.inventory }, 'a late Last Will marked this gateway offline while it is online: inventory published again')
    publishInventory(true)
  })
  function watched(payload: Buffer, retained: boolean): void {
    // A retained copy came with the subscription, made after this connection published its inventory.
    if (!retained && link.online && marksOffline(payload)) reassert.trigger()
  }

  function reply(route: ReplyRoute, op: string, fields: Record<string, unknown>): void {
    const opts = { qos: 1 as const, retain: false, ...(route.correlationData && settings.protocolVersion === 5 ? { properties: { correlationData: route.correlationData, contentType: 'application/json' } } : {}) }
    link.publish(route.topic, replyBody(route, op, fields), opts)
  }

  async function handle(topic: string, payload: Buffer, props: { responseTopic?: string; correlationData?: Buffer }, retained: boolean): Promise<void> {
    const parsed = parseRequest(topics, topic, payload, props)
    if (parsed === null) {
      log.warn({ topic }, 'management: message outside this gateway\'s request topics ignored')
      return
    }
    if (retained) {
      // A retained request would come back on every reconnect, a roll-back's included, and be tried again.
      const reason = `retained request on ${topic} ignored: requests must not be retained (clear it with: mosquitto_pub -r -n -t '${topic}')`
      log.warn({ topic }, reason)
      void event('refused', { op: parsed.ok ? parsed.request.op : parsed.op, reason })
      return
    }
    requests++
    const ref = { op: parsed.ok ? parsed.request.op : parsed.op, ...(parsed.ok ? correlationRef(parsed.request.route) : correlationRef(parsed.route)) }
    if (!parsed.ok) {
      log.warn({ ...ref, reason: parsed.reason }, 'management request refused')
      void event('refused', { ...ref, reason: parsed.reason })
      reply(parsed.route, parsed.op, { ok: false, state: 'refused', reason: parsed.reason })
      return
    }
    log.info({ ...ref, bytes: payload.length }, 'management request received')
    void event('received', { ...ref, bytes: payload.length })
    try {
      await run(parsed.request, ref)
    } catch (err) {
      const reason = redactText(errorMessage(err))
      log.error({ ...ref, err: reason }, 'management request failed')
      reply(parsed.request.route, parsed.request.op, { ok: false, state: 'failed', reason })
    }
  }

  async function run(r: Request, ref: Record<string, unknown>): Promise<void> {
    // Config and update requests are tried one at a time anyway; an update announce must be signed.
    if (r.op !== 'config' && r.op !== 'update') {
      const wait = rate.take(clock.now())
      if (wait > 0) {
        limited++
        const reason = `rate limited: diagnostics requests are limited to ${o.rate?.burst ?? 5} at once and one per ${(o.rate?.everyMs ?? 2000) / 1000} s; retry in ${Math.ceil(wait / 1000)} s`
        log.warn({ ...ref, waitMs: wait }, 'management request rate limited')
        void event('refused', { ...ref, reason })
        reply(r.route, r.op, { ok: false, state: 'refused', reason, retry_after_ms: wait })
        return
      }
    }
    if (r.op === 'logs' || r.op === 'status') {
      reply(r.route, r.op, diagnosticsAnswer(r, o.diagnostics))
      void event('done', ref)
      return
    }
    if (r.op === 'inventory') {
      publishInventory(true)
      reply(r.route, r.op, { ok: true, state: 'done', inventory: describe(true) })
      void event('done', ref)
      return
    }
    if (r.op === 'update') {
      if (!transfer) throw new Error('updates over the management channel are not available on this gateway')
      reply(r.route, r.op, await transfer.announce(r.manifest ?? '', r.install !== false, r.url, ref))
      publishInventory(true)
      return
    }
    if (transfer?.installing) {
      reply(r.route, r.op, { ok: false, state: 'refused', reason: 'an update is being installed; the gateway restarts into it' })
      return
    }
    const keys = o.operatorKeys?.(remote.current.config) ?? []
    // A patch is signed as sent (its JSON text); what it makes of the running config is checked like any push.
    const unsigned = keys.length > 0 ? checkConfigSignature(keys, o.id, r.patch ?? r.config ?? '', r.signature, clock.now()) : null
    if (unsigned !== null) {
      log.error({ ...ref, reason: unsigned }, 'remote config refused')
      void event('refused', { ...ref, reason: unsigned })
      reply(r.route, r.op, { ok: false, state: 'refused', reason: unsigned })
      return
    }
    const deadline = Math.min(MAX_DEADLINE_MS, Math.max(1000, r.deadlineMs ?? settings.commitDeadline))
    let text = r.config ?? ''
    if (r.patch !== undefined) {
      try {
        text = o.host.patch(remote.current.text, JSON.parse(r.patch) as unknown)
      } catch (err) {
        const reason = `the patch cannot be applied: ${errorMessage(err)}`
        log.error({ ...ref, reason }, 'remote config refused')
        void event('refused', { ...ref, reason })
        reply(r.route, r.op, { ok: false, state: 'refused', reason })
        return
      }
    }
    const out: Outcome = await remote.push(text, deadline, ref)
    const ok = out.state === 'committed' || out.state === 'unchanged'
    if (ok) settings = o.settings(remote.current.config)
    const fields = { ...out } as Record<string, unknown>
    const line = { ...ref, ...fields, checks: undefined }
    if (ok) log.info(line, `remote config ${out.state}`)
    else log.error(line, `remote config ${out.state}`)
    void event(out.state, { ...ref, ...fields })
    reply(r.route, r.op, { ok, ...fields })
    publishInventory(true)
  }

  return {
    start() {
      const s = o.started
      reportStart(s, log, event)
      link.start()
      void transfer?.start()
      const every = Math.min(1000, settings.inventoryInterval)
      // This cold start of a committed remote config was counted (FleetStore.resolve): clear the count once
      // it is settled (coldStartSettled), so only starts that crash keep counting.
      let coldPending = s?.counted === true
      const startedAt = clock.now()
      timer = clock.setInterval(() => {
        if (coldPending) {
          const now = o.host.health()
          const requiredOk = o.host.required(remote.current.config).every((n) => now[n]?.health === 'ok')
          if (coldStartSettled({ aliveMs: clock.now() - startedAt, linkOnline: link.online, requiredOk })) {
            coldPending = false
            try {
              o.store.clearColdStarts()
            } catch (err) {
              log.warn({ err: errorMessage(err) }, 'cannot clear the cold-start count of the committed remote config')
            }
          }
        }
        publishInventory(false)
        reportUpdateOutcome()
      }, every)
      timer.unref?.()
    },
    async stop() {
      remote.abort()
      reassert.cancel()
      transfer?.stop()
      if (timer) clock.clearInterval(timer)
      timer = null
      await link.stop({ topic: topics.inventory, payload: Buffer.from(JSON.stringify({ ...describe(false), reason: 'stopped' })) })
    },
    current: () => ({ hash: remote.current.hash, source: remote.current.source }),
    inTrial: () => remote.inTrial,
    adopt(next) {
      if (next.hash === remote.current.hash) return
      remote.current = next
      settings = o.settings(next.config)
      link.reconfigure(o.host.linkSpec(next.config))
      log.info({ hash: next.hash.slice(0, 12), source: next.source }, 'management: running the reloaded config')
    },
    status() {
      const details = { id: o.id, online: link.online, lastError: link.lastError, connects: link.connects, requests, rateLimited: limited, config: remote.current.hash, source: remote.current.source, inTrial: remote.inTrial }
      return link.online ? { health: 'ok', details } : { health: 'degraded', reason: `management channel offline${link.lastError ? `: ${link.lastError}` : ''}`, details }
    },
  }
}

function correlationRef(route: ReplyRoute): Record<string, unknown> {
  return {
    ...(route.correlationId === undefined ? {} : { correlation_id: route.correlationId }),
    ...(route.correlationData === undefined ? {} : { correlation_data: route.correlationData.toString('utf8').slice(0, 64) }),
  }
}

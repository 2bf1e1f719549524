import { createBroker, type Broker } from '../broker/index.ts'
import { createSecurity, type Security } from '../broker/auth/index.ts'
import type { Config } from '../config/index.ts'
import type { Logger, Status } from '../core/index.ts'
import { errorMessage, FieldgateError, isFieldgateError } from '../core/index.ts'
import { createDriverHost, type DriverHost } from '../drivers/index.ts'
import { createStatusServer, scrub, type DemoCloudControl, type StatusEvent, type StatusServer } from '../status/index.ts'
import { openStore, type GatewayStore } from '../store-forward/index.ts'
import { VERSION } from '../version.ts'
import { brokerSettings, listenerOptions } from './options/broker.ts'
import { driverOptions } from './options/devices.ts'
import { storeOptions } from './options/storage.ts'
import { planReload, type ReloadPlan } from './reload-plan.ts'
import { buildUplink, type UplinkUnit } from './uplinks.ts'

export interface ReloadResult {
  ok: boolean
  reason?: string
}

export interface Gateway {
  start(): Promise<void>
  stop(): Promise<void>
  reload(next: Config): Promise<ReloadResult>
  reportReload(result: ReloadResult, via: string): void
  sources(): Record<string, Status>
  summary(): Record<string, unknown>
  /** The /status JSON (scrubbed); with the page off, the parts' status scrubbed the same way. */
  statusSnapshot(): Record<string, unknown>
}

export interface BuildOptions {
  reload?: () => Promise<ReloadResult>
  demo?: DemoCloudControl
  /** Parts built after the gateway (the management channel), shown with the others. */
  moreSources?: () => Record<string, Status>
}

export async function buildGateway(initial: Config, log: Logger, opts: BuildOptions = {}): Promise<Gateway> {
  let config = initial
  const gatewayId = config.gateway.id
  const startedAt = Date.now()
  const listeners = new Set<(e: StatusEvent) => void>()
  const emit = (e: StatusEvent): void => {
    for (const l of listeners) l(e)
  }

  // Whatever is opened here is closed again if a later step fails: a failed start leaves nothing behind.
  const opened: Array<() => Promise<void> | void> = []
  const unwind = async (): Promise<void> => {
    for (const close of opened.reverse()) await Promise.resolve(close()).catch(() => undefined)
  }
  let store: GatewayStore
  let security: Security
  let broker: Broker
  const uplinks = new Map<string, UplinkUnit>()
  try {
    store = await openStore(storeOptions(config.storage), log.child({ module: 'store' }), { version: VERSION }).catch((err: unknown) => {
      throw new FieldgateError(isFieldgateError(err) ? err.code : 'STORE_UNAVAILABLE', `storage.data_dir: ${errorMessage(err)}`, { cause: err })
    })
    const s = store
    opened.push(() => s.close())
    const brokerOpts = brokerSettings(config.broker)
    security = await createSecurity(brokerOpts, log)
    const sec = security
    opened.push(() => sec.close())
    broker = await createBroker({
      ...brokerOpts,
      logger: log.child({ module: 'broker' }),
      gatewayId,
      version: VERSION,
      hooks: security,
      sessions: store.sessions,
      retained: store.retained,
    })
    const b = broker
    opened.push(() => b.close())
    // The broker itself disconnects clients whose token or password the security layer revokes.
    for (const u of config.uplinks) {
      const unit = await buildUplink(u, { broker, store, gatewayId, logger: log })
      opened.push(() => unit.stop())
      // Attached before the listeners open, so no matching message is missed.
      unit.attach()
      uplinks.set(u.name, unit)
    }
  } catch (err) {
    await unwind()
    throw err
  }

  function makeDrivers(c: Config): DriverHost {
    const host = createDriverHost({ devices: driverOptions(c.devices), gatewayId, broker, logger: log.child({ module: 'drivers' }) })
    host.onEvent((e) =>
      emit(e.type === 'reading' ? e : { type: 'state', source: 'drivers', device: e.device, state: e.state, ...(e.reason ? { reason: e.reason } : {}), ts: Date.now() }),
    )
    return host
  }

  const sources = (): Record<string, Status> => {
    const out: Record<string, Status> = {
      broker: broker.status(),
      store: store.status(),
      security: security.status(),
      drivers: drivers.status(),
    }
    for (const [name, u] of uplinks) out[`uplink:${name}`] = u.status()
    return opts.moreSources ? { ...out, ...opts.moreSources() } : out
  }

  let drivers: DriverHost
  let status: StatusServer | null = null
  try {
    drivers = makeDrivers(config)
    // Reads the status page's secret files: a missing token file stops the start here, closing what is open.
    if (config.status.enabled) {
      status = createStatusServer({
        config: config.status,
        info: { version: VERSION, gatewayId, startedAt },
        sources,
        events: { on: (cb) => (listeners.add(cb), () => listeners.delete(cb)) },
        logger: log.child({ module: 'status' }),
        dataDir: config.storage.data_dir,
        ...(opts.reload ? { reload: opts.reload } : {}),
        ...(opts.demo ? { demo: opts.demo } : {}),
      })
    }
  } catch (err) {
    await unwind()
    throw err
  }

  const bound: Record<string, unknown> = {}
  let reloading: Promise<unknown> = Promise.resolve()

  /**
   * All or nothing. Everything that can fail is done first and undone on failure: new uplinks are built
   * (not attached), listeners rebound (the broker keeps the old ones on failure), devices restarted, auth
   * files re-read (the security layer keeps the old ones when they cannot be read). Only then are the
   * uplinks swapped, which cannot fail. A failure leaves the previous config running and throws why.
   */
  async function applyReload(plan: ReloadPlan, next: Config): Promise<string[]> {
    const done: string[] = []
    const built = new Map<string, UplinkUnit>()
    const undo: Array<() => Promise<unknown>> = [async () => Promise.all([...built.values()].map((u) => u.stop().catch(() => undefined)))]
    const rollback = async (err: unknown): Promise<never> => {
      for (const step of undo.reverse()) {
        await step().catch((e: unknown) => log.error({ err: errorMessage(e) }, 'config reload: undoing a step failed'))
      }
      throw err
    }
    try {
      for (const cfg of next.uplinks.filter((u) => plan.uplinksChanged.includes(u.name) || plan.uplinksAdded.includes(u.name))) {
        built.set(cfg.name, await buildUplink(cfg, { broker, store, gatewayId, logger: log }).catch((err: unknown) => {
          throw new Error(`uplink ${cfg.name}: ${errorMessage(err)}`, { cause: err })
        }))
      }
      if (plan.listenersChanged) {
        const names = await broker.reconfigureListeners(next.broker.listeners.map(listenerOptions))
        undo.push(() => broker.reconfigureListeners(config.broker.listeners.map(listenerOptions)))
        done.push(`listeners restarted: ${names.join(', ')}`)
      }
      if (plan.devicesChanged.length > 0) {
        const before = driverOptions(config.devices)
        undo.push(() => drivers.reconfigure(before))
        const restarted = await drivers.reconfigure(driverOptions(next.devices))
        done.push(`devices restarted: ${restarted.join(', ')}`)
      }
      await security.reload()
      const sec = security.status().details
      const authProblem = [sec.lastReloadError, ...(Array.isArray(sec.certificateReloadErrors) ? sec.certificateReloadErrors : [])].filter((e) => typeof e === 'string' && e !== '')
      if (authProblem.length > 0) throw new Error(`auth files: ${authProblem.join('; ')} (the previous ones stay in force)`)
      done.push('auth files re-read')
    } catch (err) {
      return rollback(err)
    }
    for (const name of plan.uplinksRemoved) {
      await uplinks.get(name)?.stop()
      uplinks.delete(name)
      done.push(`uplink ${name} removed`)
    }
    for (const [name, unit] of built) {
      const old = uplinks.get(name)
      // Swap the subscriptions in one turn, so no matching publish finds neither (and is acknowledged unqueued).
      old?.detach()
      unit.attach()
      uplinks.set(name, unit)
      await old?.stop()
      // After the old forwarder stopped; the new one starts at the oldest entry the old one left unacked.
      unit.start()
      done.push(`uplink ${name} ${old ? 'restarted' : 'added'}`)
    }
    if (plan.logLevel !== null) {
      ;(log as Logger & { level: string }).level = plan.logLevel
      done.push(`log level ${plan.logLevel}`)
    }
    return done
  }

  return {
    async start() {
      const on = await broker.listen()
      bound.listeners = on.map((l) => `${l.protocol}://${l.host}:${l.port}`)
      for (const u of uplinks.values()) u.start()
      await drivers.start()
      if (status) {
        const a = await status.listen()
        bound.status = `http://${a.host}:${a.port}/`
      }
    },
    async stop() {
      // A reload under way (SIGHUP, a pushed config) first finishes: else uplinks it starts after the
      // others stopped would keep the process running.
      await reloading.catch(() => undefined)
      const step = async (what: string, fn: () => Promise<void>): Promise<void> => {
        try {
          await fn()
        } catch (err) {
          log.error({ err: errorMessage(err), step: what }, 'error while stopping')
        }
      }
      await step('drivers', () => drivers.stop())
      // Closing the broker stops accepting and ends every client's session; publishes already
      // accepted have been handed to the forwarders, which flush their pending batch next.
      await step('broker', () => broker.close())
      await Promise.all([...uplinks.values()].map((u) => step(`uplink ${u.name}`, () => u.stop())))
      security.close()
      await step('store', () => store.close())
      if (status) await step('status', () => status.close())
    },
    reload(next) {
      // One at a time (SIGHUP and the status page may ask together): each plans against what the last one left.
      const turn = reloading.then(async (): Promise<ReloadResult> => {
        const plan = planReload(config, next)
        if (plan.refused.length > 0) return { ok: false, reason: `these changes need a restart: ${plan.refused.join('; ')}` }
        try {
          const done = await applyReload(plan, next)
          config = next
          emit({ type: 'state', source: 'gateway', state: 'reloaded', reason: done.join(', '), ts: Date.now() })
          return { ok: true, reason: done.join(', ') }
        } catch (err) {
          return { ok: false, reason: errorMessage(err) }
        }
      })
      reloading = turn
      return turn
    },
    reportReload(result, via) {
      status?.reportReload(result, via)
    },
    sources,
    statusSnapshot: () => status?.snapshot() ?? (scrub({ version: VERSION, gateway_id: gatewayId, started_at: startedAt, now: Date.now(), sources: sources() }) as Record<string, unknown>),
    summary: () => ({ ...bound, uplinks: [...uplinks.keys()], devices: config.devices.map((d) => d.id) }),
  }
}

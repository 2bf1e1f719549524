import { loadConfigText } from './config/index.ts'
import { errorMessage, FieldgateError } from './core/errors.ts'
import type { Logger } from './core/logger.ts'
import { releaseStartupMemory } from './core/memory.ts'
import { DEMO_CONFIG } from './demo-config.ts'
import { buildGateway, type Gateway, type ReloadResult } from './gateway/build.ts'
import { startDemoCloud, type DemoCloud } from './gateway/demo-cloud.ts'
import { buildFleet, loadEffective, managedUplink, type ConfigChecker, type Effective, type GatewayFleet } from './gateway/fleet.ts'
import { systemdNotifier } from './gateway/systemd.ts'
import { lastUpdate, runningExecutable, startUpdateTrial } from './gateway/update.ts'
import { RESTART_EXIT_CODE } from './update/index.ts'
import { createLogger, LogRing } from './logging.ts'

/** Stop must finish within this; systemd's TimeoutStopSec is larger. */
const STOP_DEADLINE_MS = 4500
/** After start, once the first connections and readings are done, start-up garbage is collected for good (core/memory.ts). */
const SETTLE_MS = 5000

/** The config to run: the file, or a remote config committed over it (gateway/fleet.ts). */
function load(configFile: string | null, opts: { coldStart?: boolean } = {}): Effective {
  if (configFile === null) {
    const loaded = loadConfigText(DEMO_CONFIG, '(built-in demo config)')
    return { loaded, text: DEMO_CONFIG, baseText: DEMO_CONFIG, source: 'file', committedAt: null, start: null }
  }
  return loadEffective(configFile, process.env, opts)
}

export interface RunOptions {
  /** `fieldgate check`'s validation, used for configs pushed over the management channel. */
  check?: ConfigChecker
}

/** One line for the operator (what, where, what to do); the start left nothing open behind it. */
function startFailure(err: unknown, log: Logger): FieldgateError {
  const message = errorMessage(err).replace(/\s*\n\s*/g, '; ')
  log.error({ err: message }, 'fieldgate failed to start; everything it opened was closed')
  return new FieldgateError('START_FAILED', `cannot start: ${message}`, { cause: err })
}

function withDeadline(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))
  return Promise.race([p.catch(() => undefined), late]).finally(() => clearTimeout(timer))
}

/** Composition root: config → modules → wiring → signals and graceful shutdown. */
export async function run(configFile: string | null, opts: RunOptions = {}): Promise<number> {
  // A cold start: a committed remote config counts it until it reaches health (FleetStore.resolve).
  const effective = load(configFile, { coldStart: true })
  const loaded = effective.loaded
  const startedAt = Date.now()
  // Recent lines for remote diagnostics, kept only when management is on.
  const ring = configFile !== null && managedUplink(loaded.config) ? new LogRing() : undefined
  const log = createLogger(loaded.config.log.level, { gateway: loaded.config.gateway.id }, ring)
  log.info({ config: loaded.file ?? '(built-in demo config)', source: effective.source, overrides: loaded.overrides.map((o) => o.variable) }, 'fieldgate starting')
  // The built-in demo also runs its stand-in cloud, on the port its uplink's url names.
  let demo: DemoCloud | null = null
  if (configFile === null) {
    const url = loaded.config.uplinks[0]?.url
    try {
      if (url) demo = await startDemoCloud(log, Number(new URL(url).port))
    } catch (err) {
      log.warn({ err: errorMessage(err), url }, 'demo: cannot start the stand-in cloud broker; the demo uplink stays offline')
    }
  }
  let gateway: Gateway
  let managed: GatewayFleet | null = null
  /** A reload from the file: refused while a pushed config is in its commit window. */
  const reloadFromFile = async (): Promise<ReloadResult> => {
    if (managed?.fleet.inTrial()) return { ok: false, reason: 'a remote config is in its commit window; reload again once it is committed or rolled back' }
    try {
      const next = load(configFile)
      const result = await gateway.reload(next.loaded.config)
      if (result.ok) managed?.adopt(next)
      return result
    } catch (err) {
      return { ok: false, reason: errorMessage(err) }
    }
  }
  try {
    gateway = await buildGateway(loaded.config, log, {
      ...(demo ? { demo } : {}),
      reload: reloadFromFile,
      moreSources: () => Object.fromEntries(managed ? [['fleet', managed.fleet.status()]] : []),
    })
  } catch (err) {
    await demo?.stop()
    throw startFailure(err, log)
  }
  try {
    await gateway.start()
  } catch (err) {
    // Close what started (listeners, status page, devices, uplinks, the database) before saying why.
    await withDeadline(gateway.stop(), STOP_DEADLINE_MS)
    await demo?.stop()
    throw startFailure(err, log)
  }
  // Stop with RESTART_EXIT_CODE, so the service manager starts the executable in place (an update
  // installed over the channel, or a trial that missed its deadline, which the guard then rolls back).
  let exitCode = 0
  const restartInto = (): void => {
    exitCode = RESTART_EXIT_CODE
    process.kill(process.pid, 'SIGTERM')
  }
  if (configFile !== null) {
    const exe = runningExecutable()
    managed = buildFleet({
      file: configFile,
      effective,
      gateway,
      logger: log,
      startedAt,
      lastUpdate: () => lastUpdate(exe),
      update: { exe, restart: restartInto },
      ...(opts.check ? { check: opts.check } : {}),
      ...(ring ? { logs: (n: number) => ring.recent(n) } : {}),
    })
    managed?.fleet.start()
  }
  log.info(gateway.summary(), 'fieldgate running')
  const notifier = systemdNotifier(process.env, log)
  notifier.ready('running')
  // What start-up allocated and dropped stays mapped otherwise (~6 MB of an idle gateway's RSS): hand it back once.
  setTimeout(releaseStartupMemory, SETTLE_MS).unref()
  // An update on trial: commit once healthy, or stop with RESTART_EXIT_CODE so the guard rolls back.
  const trial = startUpdateTrial({ exe: runningExecutable(), deadlineMs: loaded.config.update.health_deadline, sources: () => gateway.sources(), log, restart: restartInto })

  const onHup = (): void => {
    void (async () => {
      const result = await reloadFromFile()
      gateway.reportReload(result, 'SIGHUP')
      if (result.ok) log.info({ detail: result.reason }, 'config reloaded')
      else log.error({ reason: result.reason }, 'config reload refused; the running config stays')
    })()
  }
  process.on('SIGHUP', onHup)
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  process.off('SIGHUP', onHup)
  trial.cancel()
  log.info({ signal }, 'fieldgate stopping')
  notifier.stopping()
  const deadline = setTimeout(() => {
    log.error({ deadlineMs: STOP_DEADLINE_MS }, 'graceful stop overran its deadline; exiting anyway')
    process.exit(1)
  }, STOP_DEADLINE_MS)
  deadline.unref()
  // First: its last word is the inventory marked offline, sent while the process is still whole.
  await managed?.fleet.stop()
  await gateway.stop()
  await demo?.stop()
  clearTimeout(deadline)
  log.info('fieldgate stopped')
  return exitCode
}

import { loadConfig, loadConfigText, type LoadedConfig } from './config/index.ts'
import { errorMessage, FieldgateError } from './core/errors.ts'
import type { Logger } from './core/logger.ts'
import { DEMO_CONFIG } from './demo-config.ts'
import { buildGateway, type Gateway } from './gateway/build.ts'
import { startDemoCloud, type DemoCloud } from './gateway/demo-cloud.ts'
import { systemdNotifier } from './gateway/systemd.ts'
import { createLogger } from './logging.ts'

/** Stop must finish within this; systemd's TimeoutStopSec is larger. */
const STOP_DEADLINE_MS = 4500

function load(configFile: string | null): LoadedConfig {
  return configFile === null ? loadConfigText(DEMO_CONFIG, '(built-in demo config)') : loadConfig(configFile)
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
export async function run(configFile: string | null): Promise<number> {
  const loaded = load(configFile)
  const log = createLogger(loaded.config.log.level, { gateway: loaded.config.gateway.id })
  log.info({ config: loaded.file ?? '(built-in demo config)', overrides: loaded.overrides.map((o) => o.variable) }, 'fieldgate starting')
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
  try {
    gateway = await buildGateway(loaded.config, log, {
      ...(demo ? { demo } : {}),
      reload: async () => {
        try {
          return await gateway.reload(load(configFile).config)
        } catch (err) {
          return { ok: false, reason: errorMessage(err) }
        }
      },
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
  log.info(gateway.summary(), 'fieldgate running')
  const notifier = systemdNotifier(process.env, log)
  notifier.ready('running')

  const onHup = (): void => {
    void (async () => {
      let result: { ok: boolean; reason?: string }
      try {
        result = await gateway.reload(load(configFile).config)
      } catch (err) {
        result = { ok: false, reason: errorMessage(err) }
      }
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
  log.info({ signal }, 'fieldgate stopping')
  notifier.stopping()
  const deadline = setTimeout(() => {
    log.error({ deadlineMs: STOP_DEADLINE_MS }, 'graceful stop overran its deadline; exiting anyway')
    process.exit(1)
  }, STOP_DEADLINE_MS)
  deadline.unref()
  await gateway.stop()
  await demo?.stop()
  clearTimeout(deadline)
  log.info('fieldgate stopped')
  return 0
}

import { loadConfig } from './config/index.ts'
import { createLogger } from './logging.ts'

/** Composition root: config → modules → wiring → signals. */
export async function run(configFile: string | null): Promise<number> {
  const { config, file } = loadConfig(configFile)
  const log = createLogger(config.log.level, { gateway: config.gateway.id })
  log.info({ config: file ?? '(defaults)' }, 'fieldgate starting')
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  log.info('fieldgate stopped')
  return 0
}

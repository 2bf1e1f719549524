import { loadConfig } from '../config/index.ts'

/** Validates the config; the operability issue adds the probes. */
export async function check(configFile: string | null): Promise<number> {
  loadConfig(configFile)
  process.stdout.write(`config OK\n`)
  return 0
}

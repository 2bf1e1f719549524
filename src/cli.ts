import { parseArgs } from 'node:util'
import { isFieldgateError } from './core/errors.ts'
import { VERSION } from './version.ts'

const USAGE = `fieldgate ${VERSION}: edge-gateway runtime

usage:
  fieldgate [run] [--config FILE]     run the gateway (default config when no file is given)
  fieldgate check --config FILE       validate the config and probe ports, devices and uplinks
  fieldgate passwd FILE USER          add or change a user in a password file (reads the password
                                      from stdin when it is not a terminal)
  fieldgate --version                 print the version

The config file can also be given as FIELDGATE_CONFIG; any key can be overridden with
FIELDGATE_<SECTION>__<KEY>=value (for example FIELDGATE_BROKER__LIMITS__MAX_INFLIGHT=32).`

export async function cli(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string', short: 'c' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.version) {
    process.stdout.write(`${VERSION}\n`)
    return 0
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const command = positionals[0] ?? 'run'
  const configFile = values.config ?? process.env.FIELDGATE_CONFIG ?? null
  switch (command) {
    case 'run': {
      const { run } = await import('./main.ts')
      return run(configFile)
    }
    case 'check': {
      const { check } = await import('./commands/check.ts')
      return check(configFile)
    }
    case 'passwd': {
      const [, file, user] = positionals
      if (!file || !user) {
        process.stderr.write(`usage: fieldgate passwd FILE USER\n`)
        return 2
      }
      const { passwd } = await import('./commands/passwd.ts')
      return passwd(file, user)
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}\n`)
      return 2
  }
}

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (isFieldgateError(err)) process.stderr.write(`fieldgate: ${err.message}\n`)
    else process.stderr.write(`fieldgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  },
)

import { parseArgs } from 'node:util'
import { isFieldgateError } from './core/errors.ts'
import { VERSION } from './version.ts'

const USAGE = `fieldgate ${VERSION}: edge-gateway runtime

usage:
  fieldgate [run] [--config FILE]     run the gateway (default config when no file is given)
  fieldgate check --config FILE       validate the config and probe ports, devices and uplinks
                  [--in-place]        (before an upgrade: what the running fieldgate holds counts as free)
  fieldgate passwd FILE USER          add or change a user in a password file (reads the password
                                      from stdin when it is not a terminal)
  fieldgate keygen FILE               make an update signing key pair: FILE (private) and FILE.pub
  fieldgate sign EXE --key FILE --version V [--downgrade-from NEWEST] [--out MANIFEST]
                                      write the signed update manifest of an executable
  fieldgate update EXE --manifest MANIFEST --config FILE
                                      check a signed executable and install it beside this one
                                      (on trial at the next restart; rolled back if unhealthy)
  fieldgate fleet list|config|update  the operator's command: list the managed gateways, push a config
                                      or a signed update to them in waves (fieldgate fleet --help)
  fieldgate --version                 print the version

The config file can also be given as FIELDGATE_CONFIG; any key can be overridden with
FIELDGATE_<SECTION>__<KEY>=value (for example FIELDGATE_BROKER__LIMITS__MAX_INFLIGHT=32).`

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  version: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  'in-place': { type: 'boolean' },
} as const
const COMMANDS = ['run', 'check', 'passwd', 'keygen', 'sign', 'update', 'fleet']

export async function cli(argv: string[]): Promise<number> {
  // These take their own options (sign's --version is the version to sign, not a request to print ours).
  if (argv[0] === 'keygen' || argv[0] === 'sign') {
    const { keygen, sign } = await import('./commands/sign.ts')
    return argv[0] === 'keygen' ? keygen(argv.slice(1)) : sign(argv.slice(1))
  }
  if (argv[0] === 'fleet') {
    const { fleet } = await import('./commands/fleet.ts')
    return fleet(argv.slice(1))
  }
  if (argv[0] === 'update') {
    const { update } = await import('./commands/update.ts')
    return update(argv.slice(1))
  }
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS })
  } catch (err) {
    process.stderr.write(`fieldgate: ${usageProblem(err, argv)} (fieldgate --help lists the options)\n`)
    return 2
  }
  const { values, positionals } = parsed
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
      const [{ run }, { checkConfigText }] = await Promise.all([import('./main.ts'), import('./commands/check.ts')])
      return run(configFile, { check: (text, label) => checkConfigText(text, label) })
    }
    case 'check': {
      const { check } = await import('./commands/check.ts')
      return check(configFile, { inPlace: values['in-place'] === true })
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
    default: {
      const near = closest(command, COMMANDS)
      process.stderr.write(`fieldgate: unknown command "${command}"${near ? `; did you mean "${near}"?` : ''} (fieldgate --help lists the commands)\n`)
      return 2
    }
  }
}

/** Turns parseArgs' errors into one line that names the option and, for a typo, the nearest one. */
function usageProblem(err: unknown, argv: string[]): string {
  const code = (err as { code?: string }).code
  const msg = err instanceof Error ? err.message : String(err)
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /'([^']+)'/.exec(msg)?.[1] ?? argv.find((a) => a.startsWith('-')) ?? ''
    const near = closest(given.replace(/^-+/, '').split('=')[0] ?? '', Object.keys(OPTIONS))
    return `unknown option ${given}${near ? `; did you mean --${near}?` : ''}`
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = Object.keys(OPTIONS).find((k) => msg.includes(`--${k}`))
    return name ? `--${name} needs a value (for example --${name} /etc/fieldgate/fieldgate.toml)` : msg
  }
  return msg.split('\n')[0] ?? msg
}

/** The candidate within edit distance 2 of `word`, if any. */
function closest(word: string, candidates: string[]): string | null {
  let best: string | null = null
  let bestD = 3
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c)
    if (d < bestD) [best, bestD] = [c, d]
  }
  return best
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length] ?? 0
}

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    if (isFieldgateError(err)) process.stderr.write(`fieldgate: ${err.message}\n`)
    else process.stderr.write(`fieldgate: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
    // A failed start closed what it opened; should anything still hold the event loop, exit anyway.
    setTimeout(() => process.exit(1), 3000).unref()
  },
)

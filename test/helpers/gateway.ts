import { track } from './children.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitListening } from './mosquitto.ts'

export interface GatewayProcess {
  proc: ChildProcess
  /** stdout+stderr lines (pino JSON). */
  log: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const ROOT = join(import.meta.dirname, '..', '..')
/** Resolved here, so the child finds tsx whatever its working directory. */
const TSX = import.meta.resolve('tsx')

/**
 * Writes `toml` to dir/gateway.toml and runs `fieldgate run --config` in a child process; `root` runs
 * another checkout's source (benchmarks compare before and after a change), `exe` a built executable.
 */
export async function startGateway(dir: string, toml: string, opts: { waitPort?: number; env?: NodeJS.ProcessEnv; timeout?: number; root?: string; exe?: string } = {}): Promise<GatewayProcess> {
  const file = join(dir, 'gateway.toml')
  writeFileSync(file, toml)
  const argv = opts.exe !== undefined ? [opts.exe] : [process.execPath, '--import', TSX, join(opts.root ?? ROOT, 'src', 'cli.ts')]
  const proc = track(spawn(argv[0] as string, [...argv.slice(1), 'run', '--config', file], {
    cwd: dir,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  }))
  const log: string[] = []
  proc.stdout?.on('data', (d: Buffer) => log.push(d.toString()))
  proc.stderr?.on('data', (d: Buffer) => log.push(d.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  )
  if (opts.waitPort !== undefined) {
    const port = opts.waitPort
    await Promise.race([
      waitListening(port, opts.timeout ?? 20_000),
      exited.then((e) => {
        throw new Error(`gateway exited early (${e.code ?? e.signal}):\n${log.join('')}`)
      }),
    ])
  }
  return {
    proc,
    log,
    exited,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      const r = await exited
      clearTimeout(t)
      return r
    },
  }
}

export interface GatewayTomlOptions {
  /** `[gateway] id`. */
  id: string
  /** The one broker listener, on 127.0.0.1. */
  port: number
  /** `[storage] data_dir`. */
  dataDir: string
  /** `[log] level`; warn keeps test output small. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error'
  /** `[broker] sys_interval`: a minute by default, so $SYS traffic stays out of the way. */
  sysInterval?: string
  /** The status page's port; without it the page is off. */
  statusPort?: number
  /** TOML lines appended inside `[broker]` (e.g. `[broker.limits]` tables). */
  broker?: string
  /** TOML lines appended inside `[storage]`. */
  storage?: string
  /** TOML appended at the end: devices, uplinks, other sections. */
  extra?: string
}

export interface ManagedGatewayTomlOptions extends GatewayTomlOptions {
  /** The uplink "cloud": its broker URL, and failover servers tried after it. */
  cloudUrl: string
  servers?: string[]
  protocolVersion?: 4 | 5
  username?: string
  /** Exactly one of the two, or neither for an anonymous cloud. */
  password?: string
  passwordFile?: string
  /** The uplink's reconnect backoff maximum (minimum 200 ms). */
  backoffMax?: string
  /** TOML lines appended inside `[[uplinks]]` (e.g. `connect_timeout`). */
  uplink?: string
  /** `[uplinks.management] commit_deadline`. */
  commitDeadline: string
  /** TOML lines appended inside `[uplinks.management]`. */
  management?: string
  /** TOML after the uplink and its management table: `[[uplinks.forward]]` rules, other sections. */
  after?: string
}

/** A gateway under fleet management: gatewayToml plus one uplink "cloud" with the management channel on. */
export function managedGatewayToml(o: ManagedGatewayTomlOptions): string {
  const lines = [
    '[[uplinks]]',
    'name = "cloud"',
    `url = "${o.cloudUrl}"`,
    ...(o.servers === undefined ? [] : [`servers = [${o.servers.map((u) => `"${u}"`).join(', ')}]`]),
    ...(o.protocolVersion === undefined ? [] : [`protocol_version = ${o.protocolVersion}`]),
    ...(o.username === undefined ? [] : [`username = "${o.username}"`]),
    ...(o.password === undefined ? [] : [`password = "${o.password}"`]),
    ...(o.passwordFile === undefined ? [] : [`password_file = "${o.passwordFile}"`]),
    `backoff = { min = "200ms", max = "${o.backoffMax ?? '1s'}" }`,
    o.uplink ?? '',
    '[uplinks.management]',
    'enabled = true',
    `commit_deadline = "${o.commitDeadline}"`,
    o.management ?? '',
    o.after ?? '',
  ]
  return gatewayToml({ ...o, extra: `${o.extra ?? ''}\n${lines.join('\n')}\n` })
}

/** The gateway config most process tests start from: one loopback listener, LevelDB in `dataDir`, the page off unless a port is given. */
export function gatewayToml(o: GatewayTomlOptions): string {
  return `
[gateway]
id = "${o.id}"
[log]
level = "${o.logLevel ?? 'warn'}"
[broker]
sys_interval = "${o.sysInterval ?? '60s'}"
${o.broker ?? ''}
[[broker.listeners]]
host = "127.0.0.1"
port = ${o.port}
[storage]
data_dir = "${o.dataDir}"
${o.storage ?? ''}
[status]
${o.statusPort === undefined ? 'enabled = false' : `port = ${o.statusPort}`}
${o.extra ?? ''}
`
}

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startMosquitto, waitListening } from '../../test/helpers/mosquitto.ts'
import { freePort } from '../../test/helpers/ports.ts'
import { tempDir } from '../../test/helpers/tmp.ts'
import { brokerOnlyToml, mosquittoVersion, probeEnv, reportedNode, withoutProbe } from './runtime.ts'

/** Children still running, killed if the harness itself is stopped (SIGTERM from bench/run.ts). */
export const liveChildren = new Set<ChildProcess>()

export function track(proc: ChildProcess): void {
  liveChildren.add(proc)
  proc.once('exit', () => liveChildren.delete(proc))
}

/** "exited with code 1" / "killed by SIGSEGV" once the process has ended on its own, else ''. */
function exitNote(proc: ChildProcess): string {
  if (proc.exitCode !== null) return `\n[broker exited with code ${proc.exitCode}]`
  if (proc.signalCode !== null) return `\n[broker killed by ${proc.signalCode}]`
  return ''
}

export function killLiveChildren(): void {
  for (const p of liveChildren) p.kill('SIGKILL')
}

export type BrokerKind = 'fieldgate' | 'aedes' | 'mosquitto'
export const BROKER_KINDS: readonly BrokerKind[] = ['fieldgate', 'aedes', 'mosquitto']

export interface BrokerProcess {
  kind: BrokerKind
  port: number
  /** Pid of the broker itself (not a wrapper shell), for /proc readings. */
  pid: number
  stop(): Promise<void>
  /** False once the broker process has ended (crash or kill). */
  alive(): boolean
  /** What the broker wrote to stderr (for failure messages). */
  log(): string
  /** What it runs on, as the process reported it: `node v24.22.3 (executable)`, `mosquitto version 2.0.11`. */
  runtime: string
}

export interface StartOptions {
  repoRoot: string
  /** Extra node flags for the Fieldgate child, e.g. ['--cpu-prof', '--cpu-prof-dir', dir]. */
  nodeFlags?: string[]
  /** Minimum open-files limit for the broker process. */
  minFiles: number
  startTimeoutMs?: number
  /** Run Fieldgate from this esbuild bundle on plain node instead of the .ts file under tsx. */
  fieldgateBundle?: string | null
  /** Run Fieldgate as this single executable (`fieldgate run`, a broker-only config); nodeFlags go in NODE_OPTIONS. */
  fieldgateExe?: string | null
  /** Extra mosquitto.conf lines (e.g. `set_tcp_nodelay true`). */
  mosquittoExtra?: string[]
}

export async function startBroker(kind: BrokerKind, opts: StartOptions): Promise<BrokerProcess> {
  if (kind === 'mosquitto') {
    const m = await startMosquitto({ extra: opts.mosquittoExtra ?? [] })
    const pid = m.proc.pid
    if (pid === undefined) throw new Error('mosquitto started without a pid')
    track(m.proc)
    const runtime = mosquittoVersion()
    return { kind, port: m.port, pid, runtime, stop: () => m.stop(), alive: () => exitNote(m.proc) === '', log: () => m.log.join('') + exitNote(m.proc) }
  }
  if (kind === 'fieldgate' && opts.fieldgateExe) return startExe(opts.fieldgateExe, opts)
  const port = await freePort()
  const script = join(opts.repoRoot, 'bench', 'lib', kind === 'fieldgate' ? 'fieldgate-server.ts' : 'aedes-server.ts')
  const flags = kind === 'fieldgate' ? (opts.nodeFlags ?? []) : []
  const argv =
    kind === 'fieldgate' && opts.fieldgateBundle
      ? [process.execPath, ...flags, opts.fieldgateBundle, String(port)]
      : [process.execPath, '--import', 'tsx', ...flags, script, String(port)]
  const proc = spawnWithFiles(argv, opts.minFiles, opts.repoRoot, probeEnv())
  track(proc)
  const stderr: string[] = []
  proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()))
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  await waitReady(proc, opts.startTimeoutMs ?? 20_000).catch((err: unknown) => {
    proc.kill('SIGKILL')
    throw new Error(`${kind} broker did not start on port ${port}: ${err instanceof Error ? err.message : String(err)}\n${stderr.join('')}`)
  })
  const pid = proc.pid
  if (pid === undefined) throw new Error(`${kind} broker started without a pid`)
  return {
    kind,
    port,
    pid,
    get runtime() {
      return `node ${reportedNode(stderr.join(''))} (${kind === 'fieldgate' && opts.fieldgateBundle ? 'esbuild bundle' : 'tsx'})`
    },
    log: () => withoutProbe(stderr.join('')) + exitNote(proc),
    alive: () => exitNote(proc) === '',
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

/** Spawns argv, raising the soft open-files limit first when it is too low (exec keeps the pid). */
export function spawnWithFiles(argv: string[], minFiles: number, cwd: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const stdio: ['ignore', 'pipe', 'pipe'] = ['ignore', 'pipe', 'pipe']
  if (openFilesLimit() >= minFiles) return spawn(argv[0] as string, argv.slice(1), { cwd, stdio, env })
  return spawn('bash', ['-c', `ulimit -n ${minFiles} && exec "$@"`, 'bash', ...argv], { cwd, stdio, env })
}

/**
 * Fieldgate as shipped: `<exe> run --config <broker-only toml>` with its own LevelDB data dir. Node flags
 * (profiling) go through NODE_OPTIONS, which a single executable honours.
 */
/** Past the executable's start-up GC (SETTLE_MS = 5000 in src/main.ts) with a margin. */
const EXE_SETTLE_MS = 6000

async function startExe(exe: string, opts: StartOptions): Promise<BrokerProcess> {
  const port = await freePort()
  const tmp = tempDir('fieldgate-bench-exe-')
  const config = join(tmp.dir, 'bench.toml')
  writeFileSync(config, brokerOnlyToml(port, join(tmp.dir, 'data')))
  const spawnedAt = performance.now()
  const proc = spawnWithFiles([exe, 'run', '--config', config], opts.minFiles, tmp.dir, probeEnv(opts.nodeFlags ?? []))
  track(proc)
  const stderr: string[] = []
  proc.stdout?.on('data', (d: Buffer) => stderr.push(d.toString()))
  proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()))
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  exited.then(tmp.cleanup, tmp.cleanup)
  await Promise.race([
    waitListening(port, opts.startTimeoutMs ?? 20_000),
    exited.then(() => {
      throw new Error(`exited early${exitNote(proc)}`)
    }),
  ]).catch((err: unknown) => {
    proc.kill('SIGKILL')
    throw new Error(`fieldgate executable did not start on port ${port}: ${err instanceof Error ? err.message : String(err)}\n${withoutProbe(stderr.join(''))}`)
  })
  const pid = proc.pid
  if (pid === undefined) throw new Error('fieldgate executable started without a pid')
  // `fieldgate run` hands start-up memory back with one full GC 5 s after start (src/core/memory.ts):
  // two mark-compacts of 25-90 ms here, which inside a measured window set the latency p99 and add GC
  // time to CPU per message. Measure the gateway after it, as it runs for days.
  await new Promise((r) => setTimeout(r, Math.max(0, EXE_SETTLE_MS - (performance.now() - spawnedAt))))
  return {
    kind: 'fieldgate',
    port,
    pid,
    get runtime() {
      return `node ${reportedNode(stderr.join(''))} (executable ${exe})`
    },
    log: () => withoutProbe(stderr.join('')) + exitNote(proc),
    alive: () => exitNote(proc) === '',
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
    },
  }
}

let cachedLimit: number | null = null
export function openFilesLimit(): number {
  if (cachedLimit === null) {
    // Node has no getrlimit; ask the shell once.
    const out = spawnSyncText('bash', ['-c', 'ulimit -n'])
    cachedLimit = out.trim() === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(out.trim()) || 1024
  }
  return cachedLimit
}

function spawnSyncText(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? ''
}

function waitReady(proc: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`no READY line within ${timeoutMs} ms`)), timeoutMs)
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString()
      if (buf.includes('READY')) {
        clearTimeout(timer)
        resolve()
      }
    })
    proc.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`exited early (code ${code}, signal ${signal})`))
    })
  })
}

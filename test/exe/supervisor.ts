import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { track } from '../helpers/children.ts'

/** One start of the service: what ExecStartPre said, and how ExecStart ended. */
export interface Run {
  pid: number | null
  code: number | null
  signal: NodeJS.Signals | null
  guard: string
}

/**
 * Runs a systemd unit's ExecStartPre and ExecStart the way systemd does (Restart=, SuccessExitStatus=,
 * RestartForceExitStatus=), with its paths mapped into a scratch root. `restart()` is `systemctl restart`.
 * Bounded: at most `maxStarts` starts.
 */
export class Supervisor {
  readonly runs: Run[] = []
  readonly output: string[] = []
  private child: ChildProcess | null = null
  private stopping = false
  private readonly unit: { pre: string[]; start: string[]; restart: string; success: number[]; force: number[] }
  private readonly preMayFail: boolean

  constructor(
    unitFile: string,
    map: (path: string) => string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly cwd: string,
    private readonly maxStarts = 12,
  ) {
    const text = readFileSync(unitFile, 'utf8')
    const value = (key: string): string => text.split('\n').find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1) ?? ''
    // A leading "-" (failure ignored) is systemd's, not part of the path.
    const argv = (key: string): string[] => value(key).replace(/^-/, '').split(/\s+/).filter(Boolean).map(map)
    this.preMayFail = value('ExecStartPre').startsWith('-')
    this.unit = {
      pre: argv('ExecStartPre'),
      start: argv('ExecStart'),
      restart: value('Restart'),
      success: value('SuccessExitStatus').split(/\s+/).filter(Boolean).map(Number),
      force: value('RestartForceExitStatus').split(/\s+/).filter(Boolean).map(Number),
    }
  }

  get pid(): number | null {
    return this.child?.pid ?? null
  }

  start(): void {
    this.stopping = false
    this.launch()
  }

  /** systemctl restart: SIGTERM, wait for the exit (no Restart= decision), start again. */
  async restart(): Promise<void> {
    await this.stop()
    this.start()
  }

  async stop(): Promise<void> {
    this.stopping = true
    const c = this.child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((r) => c.once('exit', () => r()))
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }

  private launch(): void {
    if (this.runs.length >= this.maxStarts) return
    const [preCmd, ...preArgs] = this.unit.pre
    const pre = preCmd ? spawnSync(preCmd, preArgs, { env: this.env, encoding: 'utf8' }) : null
    const run: Run = { pid: null, code: null, signal: null, guard: pre ? pre.stderr.trim() : '' }
    this.runs.push(run)
    if (pre && pre.status !== 0 && !this.preMayFail) {
      run.code = pre.status
      return
    }
    const [cmd, ...args] = this.unit.start as [string, ...string[]]
    const child = track(spawn(cmd, args, { env: this.env, cwd: this.cwd, stdio: ['ignore', 'pipe', 'pipe'] }))
    this.child = child
    run.pid = child.pid ?? null
    child.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()))
    child.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()))
    child.once('exit', (code, signal) => {
      run.code = code
      run.signal = signal
      if (this.stopping) return
      const clean = (code === 0 || (code !== null && this.unit.success.includes(code))) && signal === null
      const forced = code !== null && this.unit.force.includes(code)
      const again = forced || this.unit.restart === 'always' || (this.unit.restart === 'on-failure' && !clean)
      // RestartSec=2 in the unit; shortened here, the order of events is what matters.
      if (again) setTimeout(() => this.launch(), 200)
    })
  }
}

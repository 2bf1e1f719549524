import { track } from './children.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort } from './ports.ts'
import { tempDir } from './tmp.ts'

export interface MosquittoHandle {
  port: number
  dir: string
  proc: ChildProcess
  /** Lines mosquitto wrote to stderr/stdout. */
  log: string[]
  stop(signal?: NodeJS.Signals): Promise<void>
}

/**
 * Starts Debian's mosquitto on a free loopback port with its own config. `extra` lines are appended
 * (listener options, TLS, bridge sections). Pass `port` to restart on the same port.
 */
export async function startMosquitto(opts: { extra?: string[]; port?: number; listenerLines?: string[] } = {}): Promise<MosquittoHandle> {
  const port = opts.port ?? (await freePort())
  const { dir, cleanup } = tempDir('fieldgate-mosq-')
  const conf = join(dir, 'mosquitto.conf')
  const lines = [
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence false',
    'max_inflight_messages 0',
    'max_queued_messages 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    `listener ${port} 127.0.0.1`,
    ...(opts.listenerLines ?? []),
    ...(opts.extra ?? []),
  ]
  writeFileSync(conf, lines.join('\n') + '\n')
  const proc = track(spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] }))
  const log: string[] = []
  proc.stdout?.on('data', (d: Buffer) => log.push(d.toString()))
  proc.stderr?.on('data', (d: Buffer) => log.push(d.toString()))
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  await waitListening(port, 5000).catch((err: unknown) => {
    proc.kill('SIGKILL')
    throw new Error(`mosquitto did not start on ${port}: ${String(err)}\n${log.join('')}`)
  })
  return {
    port,
    dir,
    proc,
    log,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal)
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(t)
      }
      cleanup()
    },
  }
}

export function waitListening(port: number, timeout: number, host = '127.0.0.1'): Promise<void> {
  const end = Date.now() + timeout
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = connect({ port, host })
      s.once('connect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', (err) => {
        s.destroy()
        if (Date.now() > end) reject(err)
        else setTimeout(attempt, 25)
      })
    }
    attempt()
  })
}

/** Mosquitto with persistence on, for bench/sessions.ts: its own config and data directory, killable with SIGKILL. */
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { waitListening } from '../../test/helpers/mosquitto.ts'

export interface Killable {
  pid: number
  kill9(): Promise<unknown>
}

/**
 * `persistence true` with Mosquitto's default autosave (every 1800 s, and at a clean shutdown): what a
 * packaged install does. Unlimited queue and in-flight window, as the other benches use it.
 * Restarting on the same `dir` reloads whatever its last save held.
 */
export async function startPersistentMosquitto(dir: string, port: number): Promise<Killable> {
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'max_inflight_messages 0',
      'max_queued_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      `listener ${port} 127.0.0.1`,
      '',
    ].join('\n'),
  )
  const proc = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  const log: string[] = []
  proc.stderr?.on('data', (d: Buffer) => log.push(d.toString()))
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const kill9 = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await exited
  }
  await waitListening(port, 5000).catch(async (err: unknown) => {
    await kill9()
    throw new Error(`mosquitto did not start on ${port}: ${String(err)}\n${log.join('')}`)
  })
  return { pid: proc.pid ?? -1, kill9 }
}

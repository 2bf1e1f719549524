import { track } from './children.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from './tmp.ts'

export interface PtyPair {
  /** Path the gateway side opens. */
  a: string
  /** Path the simulated device opens. */
  b: string
  proc: ChildProcess
  /** Kill socat: both ends disappear, as when a USB adapter is unplugged. */
  unplug(): Promise<void>
}

/** A pty pair made by socat with stable link names in `dir` (re-creatable with the same names). */
export async function ptyPair(dir: string, name = 'tty'): Promise<PtyPair> {
  const a = join(dir, `${name}A`)
  const b = join(dir, `${name}B`)
  const proc = track(spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' }))
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  await waitFor(() => existsSync(a) && existsSync(b), 5000, 5, `socat pty pair ${a}`)
  return {
    a,
    b,
    proc,
    async unplug() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM')
        await exited
      }
    },
  }
}

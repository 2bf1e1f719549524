import type { ChildProcess } from 'node:child_process'

/**
 * Child processes a test file started (gateways, Mosquitto, pymodbus slaves, socat). They are killed
 * when the test process ends for any reason, also when the test runner stops a file that ran past its
 * time limit (SIGTERM): without this, a gateway from a timed-out file kept running, holding a port and
 * a core, for the rest of the machine's life.
 */
const live = new Set<ChildProcess>()
let installed = false

function killAll(): void {
  for (const p of live) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  }
  live.clear()
}

export function track<P extends ChildProcess>(proc: P): P {
  if (!installed) {
    installed = true
    process.once('exit', killAll)
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        killAll()
        process.exit(128 + (sig === 'SIGTERM' ? 15 : 2))
      })
    }
  }
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
  return proc
}

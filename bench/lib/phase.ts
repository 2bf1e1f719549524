import { join } from 'node:path'
import { RESULT_PREFIX, phaseLimitMs, type PhaseSpec } from './loadgen.ts'
import { probeEnv, reportedNode, withoutProbe } from './runtime.ts'
import { spawnWithFiles, track } from './servers.ts'

/** Node version the last load-generator child reported about itself. */
export let loadgenNode = '?'

/** Runs one load-generator child for `spec`, bounded in time, and returns its parsed result. */
export function runPhase(repoRoot: string, spec: PhaseSpec, minFiles: number): Promise<unknown> {
  const script = join(repoRoot, 'bench', 'lib', 'loadgen.ts')
  const proc = spawnWithFiles([process.execPath, '--import', 'tsx', script, JSON.stringify(spec)], minFiles, repoRoot, probeEnv())
  track(proc)
  const limit = phaseLimitMs(spec) + 10_000
  let out = ''
  let err = ''
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`${spec.kind} load generator killed after ${limit} ms`))
    }, limit)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      loadgenNode = reportedNode(err)
      err = withoutProbe(err)
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX))
      if (code === 0 && line) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)))
        return
      }
      reject(new Error(`${spec.kind} load generator exited with code ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))
    })
  })
}

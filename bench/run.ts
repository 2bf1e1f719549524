/**
 * `npm run bench [-- [--timeout <s>] [name [args…]]…]`: runs each benchmark script as its own child
 * process, one after another, each bounded in time. Arguments after a name go to that benchmark,
 * e.g. `npm run bench -- broker --duration 2 store`. With no names, runs all that exist.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const benchDir = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(benchDir, '..')

/** In run order; the broker comparison first. Limits are generous upper bounds, not expected times. */
const BENCHES: readonly { name: string; limitS: number }[] = [
  { name: 'broker', limitS: 420 },
  { name: 'store', limitS: 300 },
  { name: 'durable', limitS: 300 },
  { name: 'sessions', limitS: 300 },
  { name: 'login-storm', limitS: 240 },
  { name: 'bridge', limitS: 300 },
  { name: 'drivers', limitS: 300 },
  { name: 'tls', limitS: 300 },
  { name: 'startup', limitS: 300 },
  { name: 'idle', limitS: 180 },
  { name: 'history', limitS: 180 },
  { name: 'page', limitS: 300 },
  { name: 'update', limitS: 180 },
  { name: 'fleet', limitS: 600 },
  { name: 'fuzz', limitS: 1200 },
]

interface Job {
  name: string
  args: string[]
  limitS: number
}

function usage(): string {
  return `usage: npm run bench -- [--timeout <s>] [name [args...]]...\n  names: ${BENCHES.map((b) => b.name).join(', ')}`
}

function parse(argv: string[]): Job[] {
  const jobs: Job[] = []
  let timeoutS: number | null = null
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    const known = BENCHES.find((b) => b.name === a)
    if (known) jobs.push({ name: known.name, args: [], limitS: known.limitS })
    else if (a === '--help' || a === '-h') {
      process.stdout.write(usage() + '\n')
      process.exit(0)
    } else if (a === '--timeout' && jobs.length === 0) {
      timeoutS = Number(argv[++i])
      if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new Error(`--timeout needs seconds > 0\n${usage()}`)
    } else if (jobs.length > 0) (jobs[jobs.length - 1] as Job).args.push(a)
    else throw new Error(`unknown benchmark or option "${a}"\n${usage()}`)
  }
  const picked = jobs.length ? jobs : BENCHES.map((b) => ({ name: b.name, args: [], limitS: b.limitS }))
  return timeoutS === null ? picked : picked.map((j) => ({ ...j, limitS: timeoutS as number }))
}

function runOne(job: Job): Promise<{ code: number | null; signal: string | null; timedOut: boolean }> {
  const script = join(benchDir, `${job.name}.ts`)
  const proc = spawn(process.execPath, ['--import', 'tsx', script, ...job.args], { cwd: repoRoot, stdio: 'inherit' })
  return new Promise((resolveRun) => {
    let timedOut = false
    let killer: NodeJS.Timeout | undefined
    const timer = setTimeout(() => {
      timedOut = true
      process.stderr.write(`[bench] ${job.name} exceeded ${job.limitS} s: stopping it\n`)
      proc.kill('SIGTERM')
      killer = setTimeout(() => proc.kill('SIGKILL'), 5000)
    }, job.limitS * 1000)
    proc.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (killer) clearTimeout(killer)
      resolveRun({ code, signal, timedOut })
    })
  })
}

async function main(): Promise<void> {
  const jobs = parse(process.argv.slice(2))
  const summary: string[] = []
  let failed = 0
  for (const job of jobs) {
    if (!existsSync(join(benchDir, `${job.name}.ts`))) {
      summary.push(`${job.name.padEnd(8)} skipped (bench/${job.name}.ts does not exist yet)`)
      continue
    }
    process.stdout.write(`\n===== bench/${job.name}.ts ${job.args.join(' ')} =====\n`)
    const t0 = Date.now()
    const r = await runOne(job)
    const secs = ((Date.now() - t0) / 1000).toFixed(1)
    const ok = r.code === 0 && !r.timedOut
    if (!ok) failed++
    summary.push(`${job.name.padEnd(8)} ${ok ? 'ok' : r.timedOut ? 'TIMED OUT' : `FAILED (exit ${r.code ?? r.signal})`} in ${secs} s`)
  }
  process.stdout.write(`\n===== benchmarks =====\n${summary.join('\n')}\n`)
  process.exitCode = failed ? 1 : 0
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/run: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(2)
})

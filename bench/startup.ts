/**
 * Start-up and footprint: time from spawn to a served /healthz, idle RSS on the default config, and
 * executable sizes per target (raw and gzip). Standalone and bounded:
 *
 *   node --import tsx bench/startup.ts [--runs 5] [--idle 3000] [--no-build]
 *
 * Targets (issue 7): start under 0.5 s and idle under 60 MB on x64.
 */
import { spawn } from 'node:child_process'
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { createGzip } from 'node:zlib'
import { buildExe, TARGETS, type Target } from '../scripts/build-exe.ts'
import { freePort } from '../test/helpers/ports.ts'

const ROOT = resolve(import.meta.dirname, '..')

interface Sample {
  startMs: number | null
  mem: { rss: number; anon: number } | null
  error?: string
}

/** RSS, and the anonymous part of it (heap, stacks): the rest is clean pages of the executable, shared and reclaimable. */
function memory(pid: number): { rss: number; anon: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
    return { rss: Math.round(kb('Rss') / 102.4) / 10, anon: Math.round(kb('Anonymous') / 102.4) / 10 }
  } catch {
    return null
  }
}

/** One start: spawn, poll /healthz every 5 ms (max 10 s), idle, read RSS, SIGTERM (max 5 s). */
async function once(cmd: string, args: string[], idleMs: number, cwd?: string): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-'))
  const statusPort = await freePort()
  const env = {
    ...process.env,
    FIELDGATE_STORAGE__DATA_DIR: join(dir, 'data'),
    FIELDGATE_BROKER__LISTENERS__0__PORT: String(await freePort()),
    FIELDGATE_STATUS__PORT: String(statusPort),
    FIELDGATE_LOG__LEVEL: 'warn',
    XDG_RUNTIME_DIR: dir,
  }
  const started = process.hrtime.bigint()
  const child = spawn(cmd, args, { cwd: cwd ?? dir, env, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)))
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  let startMs: number | null = null
  try {
    for (let i = 0; i < 2000 && child.exitCode === null; i++) {
      const ok = await fetch(`http://127.0.0.1:${statusPort}/healthz`, { signal: AbortSignal.timeout(500) }).then((r) => r.status === 200, () => false)
      if (ok) {
        startMs = Number(process.hrtime.bigint() - started) / 1e6
        break
      }
      await new Promise((r) => setTimeout(r, 5))
    }
    if (startMs === null) return { startMs: null, mem: null, error: `no /healthz within 10 s; ${stderr.trim().split('\n').at(-1) ?? ''}` }
    await new Promise((r) => setTimeout(r, idleMs))
    return { startMs, mem: memory(child.pid ?? 0) }
  } finally {
    child.kill('SIGTERM')
    const t = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(t)
    rmSync(dir, { recursive: true, force: true })
  }
}

function median(xs: number[]): number | null {
  if (!xs.length) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? null
}

function gzipSize(file: string): Promise<number> {
  return new Promise((res, rej) => {
    let n = 0
    createReadStream(file)
      .on('error', rej)
      .pipe(createGzip({ level: 6 }))
      .on('data', (c: Buffer) => (n += c.length))
      .on('end', () => res(n))
      .on('error', rej)
  })
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, idle: { type: 'string', default: '3000' }, 'no-build': { type: 'boolean', default: false } } })
  const runs = Math.min(20, Math.max(1, Number(values.runs)))
  const idle = Math.min(30_000, Math.max(0, Number(values.idle)))
  if (!values['no-build']) await buildExe(TARGETS)
  const modes: Array<{ name: string; cmd: string; args: string[]; cwd?: string }> = [
    // tsx resolves from the project, so the dev run starts there (data dir and ports still come from env).
    { name: 'dev (node + tsx)', cmd: process.execPath, args: ['--import', 'tsx', join(ROOT, 'src/cli.ts')], cwd: ROOT },
    { name: 'exe linux-x64', cmd: join(ROOT, 'dist/fieldgate-linux-x64'), args: [] },
  ]
  console.log(`start-up to a served /healthz and idle RSS after ${idle} ms (median of ${runs}; target < 500 ms, < 60 MB on x64)`)
  for (const m of modes) {
    if (!existsSync(m.cmd)) {
      console.log(`  ${m.name.padEnd(18)} missing (${m.cmd})`)
      continue
    }
    const samples: Sample[] = []
    for (let i = 0; i < runs; i++) samples.push(await once(m.cmd, m.args, i === 0 ? idle : 0, m.cwd))
    const starts = samples.flatMap((s) => (s.startMs === null ? [] : [s.startMs]))
    const mem = samples[0]?.mem
    const err = samples.find((s) => s.error)?.error
    const ms = median(starts)
    console.log(`  ${m.name.padEnd(18)} start ${ms === null ? 'n/a' : `${ms.toFixed(0)} ms`} (min ${starts.length ? Math.min(...starts).toFixed(0) : 'n/a'}), idle RSS ${mem ? `${mem.rss} MB (anonymous ${mem.anon} MB)` : 'n/a'}${err ? `; error: ${err}` : ''}`)
  }
  console.log('executable sizes')
  for (const t of TARGETS as Target[]) {
    const f = join(ROOT, `dist/fieldgate-linux-${t}`)
    if (!existsSync(f)) continue
    const raw = statSync(f).size
    const gz = await gzipSize(f)
    console.log(`  linux-${t.padEnd(6)} ${(raw / 1e6).toFixed(1)} MB raw, ${(gz / 1e6).toFixed(1)} MB gzip`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})

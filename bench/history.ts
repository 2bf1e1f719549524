/**
 * Memory of the status page's /history ring buffers (src/status/history.ts PointHistory: per numeric
 * point 180 buckets of 20 s, min/max/last), measured rather than computed. Each run is a fresh child
 * process under --expose-gc: it loads the module, collects garbage, reads process.memoryUsage(), fills
 * a PointHistory with N points to capacity (a reading every 5 s for 70 simulated minutes, so every
 * bucket holds a value), collects again and reads again. The cost is the difference against the
 * same run into a PointHistory that charts no point (same readings, same garbage, no rings), over N.
 *
 *   node --import tsx bench/history.ts [--points 100,2000] [--rounds 3]
 */
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { parseArgs } from 'node:util'

interface Sample {
  points: number
  heapUsed: number
  external: number
  arrayBuffers: number
  rss: number
  /** PointHistory.bytes: what the code says its arrays hold. */
  declared: number
}

const { values } = parseArgs({ options: { points: { type: 'string', default: '100,2000' }, rounds: { type: 'string', default: '3' }, child: { type: 'string' }, cap: { type: 'string' } } })

/** Feeds `points` points; `cap` is how many the history keeps (0: the baseline, every reading refused). */
async function child(points: number, cap: number): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) throw new Error('bench/history: the child needs --expose-gc')
  const { PointHistory } = await import('../src/status/history.ts')
  const settle = (): NodeJS.MemoryUsage => {
    for (let i = 0; i < 4; i++) gc()
    return process.memoryUsage()
  }
  // Warm the code paths on a throwaway history so compiled code is not charged to the points.
  const warm = new PointHistory()
  for (let t = 0; t < 60; t++) warm.add('w', 'w', t * 5000, t)
  const before = settle()
  const h = new PointHistory(cap)
  const t0 = 1_800_000_000_000
  for (let s = 0; s < 70 * 60; s += 5) for (let p = 0; p < points; p++) h.add(`dev${p % 20}`, `point${p}`, t0 + s * 1000, Math.sin(s / 60) * 10 + p)
  const after = settle()
  const out: Sample = {
    points: h.size,
    heapUsed: after.heapUsed - before.heapUsed,
    external: after.external - before.external,
    arrayBuffers: after.arrayBuffers - before.arrayBuffers,
    rss: after.rss - before.rss,
    declared: h.bytes,
  }
  process.stdout.write(JSON.stringify(out) + '\n')
}

function run(points: number, cap: number): Sample {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', import.meta.filename, '--child', String(points), '--cap', String(cap)], { encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`bench/history child (${points} points) failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Sample
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}
const kb = (b: number): string => (b / 1024).toFixed(1).padStart(8)

function main(): void {
  const counts = (values.points ?? '').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0)
  const rounds = Math.max(1, Number(values.rounds))
  console.log(`/history ring buffers, ${new Date().toISOString()}, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`)
  console.log(`medians of ${rounds} fresh processes each, after gc, minus the same readings into a history that keeps none; KiB`)
  console.log(`${'points'.padStart(6)} ${'heapUsed'.padStart(8)} ${'external'.padStart(8)} ${'heap+ext'.padStart(8)} ${'RSS'.padStart(8)} ${'declared'.padStart(8)}   per point: heap+ext, RSS, declared (bytes); RSS of each run, with / without`)
  for (const n of counts) {
    const xs: Sample[] = []
    const base: Sample[] = []
    // Interleaved so a change in machine load hits both alike.
    for (let i = 0; i < rounds; i++) {
      base.push(run(n, 0))
      xs.push(run(n, n))
    }
    const b = { heapUsed: median(base.map((s) => s.heapUsed)), external: median(base.map((s) => s.external)), rss: median(base.map((s) => s.rss)) }
    const heap = median(xs.map((s) => s.heapUsed)) - b.heapUsed
    const ext = median(xs.map((s) => s.external)) - b.external
    const rss = median(xs.map((s) => s.rss)) - b.rss
    const declared = xs[0]?.declared ?? 0
    const got = xs[0]?.points ?? 0
    console.log(`${String(got).padStart(6)} ${kb(heap)} ${kb(ext)} ${kb(heap + ext)} ${kb(rss)} ${kb(declared)}   ${Math.round((heap + ext) / got)}, ${Math.round(rss / got)}, ${Math.round(declared / got)}; ${xs.map((x) => Math.round(x.rss / 1024)).join(' ')} / ${base.map((x) => Math.round(x.rss / 1024)).join(' ')}`)
  }
}

if (values.child !== undefined) {
  child(Number(values.child), Number(values.cap)).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
} else {
  try {
    main()
  } catch (err) {
    console.error(err)
    process.exitCode = 1
  }
}

/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) by self time per function.
 * CLI: `node --import tsx bench/lib/cpuprofile.ts <file.cpuprofile> [top]`.
 */
import { readFileSync } from 'node:fs'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

function isProfile(v: unknown): v is Profile {
  if (typeof v !== 'object' || v === null) return false
  const p = v as Record<string, unknown>
  return Array.isArray(p.nodes) && Array.isArray(p.samples) && Array.isArray(p.timeDeltas)
}

export interface HotSpot {
  name: string
  where: string
  selfMs: number
  pct: number
}

export interface ProfileSummary {
  totalMs: number
  /** Sampled time not spent idle: the profile of the thread that did the work has the most. */
  busyMs: number
  spots: HotSpot[]
  /** Self time grouped by package (node_modules/<name>), our source folder, or Node internals. */
  byModule: { module: string; selfMs: number; pct: number }[]
}

function moduleOf(url: string): string {
  if (!url) return '(native / VM)'
  const s = url.replace(/^file:\/\//, '')
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(s)
  if (nm?.[1]) return nm[1]
  const src = /\/(src\/[^/]+)\//.exec(s)
  if (src?.[1]) return src[1]
  if (s.startsWith('node:')) return 'node internals'
  return s
}

export function hotSpots(file: string, top: number): ProfileSummary {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'))
  if (!isProfile(raw)) throw new Error(`${file} is not a V8 CPU profile (needs nodes, samples, timeDeltas)`)
  const byId = new Map<number, ProfileNode>()
  for (const n of raw.nodes) byId.set(n.id, n)
  const selfUs = new Map<string, { name: string; where: string; us: number }>()
  const modUs = new Map<string, number>()
  let total = 0
  let idle = 0
  for (let i = 0; i < raw.samples.length; i++) {
    const node = byId.get(raw.samples[i] as number)
    const dt = raw.timeDeltas[i] ?? 0
    if (!node || dt < 0) continue
    total += dt
    const cf = node.callFrame
    if (cf.functionName === '(idle)') idle += dt
    const mod = cf.functionName.startsWith('(') ? cf.functionName : moduleOf(cf.url)
    modUs.set(mod, (modUs.get(mod) ?? 0) + dt)
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : ''
    const key = `${cf.functionName}@${where}`
    const e = selfUs.get(key) ?? { name: cf.functionName || '(anonymous)', where, us: 0 }
    e.us += dt
    selfUs.set(key, e)
  }
  const spots = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 100) / 10, pct: total ? Math.round((e.us / total) * 1000) / 10 : 0 }))
  const pct = (us: number): number => (total ? Math.round((us / total) * 1000) / 10 : 0)
  const byModule = [...modUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 15)
    .map(([module, us]) => ({ module, selfMs: Math.round(us / 100) / 10, pct: pct(us) }))
  return { totalMs: Math.round(total / 1000), busyMs: Math.round((total - idle) / 1000), spots, byModule }
}

function shortUrl(url: string): string {
  const s = url.replace(/^file:\/\//, '')
  const i = s.indexOf('/node_modules/')
  if (i >= 0) return s.slice(i + 1)
  const j = s.indexOf('/src/')
  return j >= 0 ? s.slice(j + 1) : s
}

export function summariseProfile(file: string, top = 25): string {
  return formatSummary(hotSpots(file, top))
}

export function formatSummary({ totalMs, busyMs, spots, byModule }: ProfileSummary): string {
  const lines = [`sampled ${totalMs} ms, ${busyMs} ms busy; top ${spots.length} functions by self time:`]
  for (const s of spots) lines.push(`${s.pct.toFixed(1).padStart(6)}%  ${s.selfMs.toFixed(1).padStart(9)} ms  ${s.name}  ${s.where}`)
  lines.push('self time by module:')
  for (const m of byModule) lines.push(`${m.pct.toFixed(1).padStart(6)}%  ${m.selfMs.toFixed(1).padStart(9)} ms  ${m.module}`)
  return lines.join('\n')
}

/** Of the profiles in a run (main thread, tsx's loader thread…), the one with the most busy time. */
export function busiestProfile(files: string[], top = 25): { file: string; summary: ProfileSummary } | null {
  let bestFile: { file: string; summary: ProfileSummary } | null = null
  for (const file of files) {
    const summary = hotSpots(file, top)
    if (!bestFile || summary.busyMs > bestFile.summary.busyMs) bestFile = { file, summary }
  }
  return bestFile
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) {
    process.stderr.write('usage: cpuprofile.ts <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  process.stdout.write(summariseProfile(file, Number(process.argv[3] ?? 30)) + '\n')
}

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

export function hotSpots(file: string, top: number): { totalMs: number; spots: HotSpot[] } {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'))
  if (!isProfile(raw)) throw new Error(`${file} is not a V8 CPU profile (needs nodes, samples, timeDeltas)`)
  const byId = new Map<number, ProfileNode>()
  for (const n of raw.nodes) byId.set(n.id, n)
  const selfUs = new Map<string, { name: string; where: string; us: number }>()
  let total = 0
  for (let i = 0; i < raw.samples.length; i++) {
    const node = byId.get(raw.samples[i] as number)
    const dt = raw.timeDeltas[i] ?? 0
    if (!node || dt < 0) continue
    total += dt
    const cf = node.callFrame
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
  return { totalMs: Math.round(total / 1000), spots }
}

function shortUrl(url: string): string {
  const s = url.replace(/^file:\/\//, '')
  const i = s.indexOf('/node_modules/')
  if (i >= 0) return s.slice(i + 1)
  const j = s.indexOf('/src/')
  return j >= 0 ? s.slice(j + 1) : s
}

export function summariseProfile(file: string, top = 25): string {
  const { totalMs, spots } = hotSpots(file, top)
  const lines = [`total sampled ${totalMs} ms; top ${spots.length} by self time:`]
  for (const s of spots) lines.push(`${s.pct.toFixed(1).padStart(6)}%  ${s.selfMs.toFixed(1).padStart(9)} ms  ${s.name}  ${s.where}`)
  return lines.join('\n')
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2]
  if (!file) {
    process.stderr.write('usage: cpuprofile.ts <file.cpuprofile> [top]\n')
    process.exit(2)
  }
  process.stdout.write(summariseProfile(file, Number(process.argv[3] ?? 30)) + '\n')
}

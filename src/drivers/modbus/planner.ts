/** Pure request planning: coalesce a poll's points into the fewest Modbus read requests. */

export type Table = 'coil' | 'discrete' | 'input' | 'holding'

export interface PlanPoint {
  key: string
  table: Table
  address: number
  /** Registers (or bits for coil/discrete) the point occupies. */
  width: number
}

export interface PlanOptions {
  /** Most registers in one read (the protocol allows 125). */
  maxRegisters: number
  /** Most bits in one read (the protocol allows 2000). */
  maxBits: number
  /** Largest run of unwanted registers/bits read through rather than starting a new request. */
  maxGap: number
}

export interface ReadRequest {
  table: Table
  start: number
  count: number
  points: string[]
}

const TABLE_ORDER: Table[] = ['coil', 'discrete', 'input', 'holding']

export function isBitTable(t: Table): boolean {
  return t === 'coil' || t === 'discrete'
}

/**
 * Greedy left-to-right per table. With points sorted by address, extending the current request whenever
 * both limits allow is optimal: any plan must start a request at the first point, and reaching as far as
 * possible from there never leaves the rest with more to cover (the usual exchange argument).
 */
export function planReads(points: readonly PlanPoint[], opts: PlanOptions): ReadRequest[] {
  const out: ReadRequest[] = []
  for (const table of TABLE_ORDER) {
    const limit = isBitTable(table) ? opts.maxBits : opts.maxRegisters
    const mine = points.filter((p) => p.table === table).sort((a, b) => a.address - b.address || b.width - a.width)
    let cur: ReadRequest | null = null
    let curEnd = 0
    for (const p of mine) {
      if (p.width > limit) throw new RangeError(`point ${p.key} is ${p.width} wide, more than one request may read (${limit})`)
      const end = p.address + p.width
      if (cur && p.address - curEnd <= opts.maxGap && Math.max(end, curEnd) - cur.start <= limit) {
        cur.points.push(p.key)
        curEnd = Math.max(curEnd, end)
        cur.count = curEnd - cur.start
        continue
      }
      cur = { table, start: p.address, count: p.width, points: [p.key] }
      curEnd = end
      out.push(cur)
    }
  }
  return out
}

/** Fewest requests possible if every gap could be read through (a lower bound for benchmarks). */
export function lowerBound(points: readonly PlanPoint[], opts: PlanOptions): number {
  return planReads(points, { ...opts, maxGap: 65536 }).length
}

/** True when the request reads registers (or bits) that belong to none of its points. */
export function hasHoles(req: ReadRequest, points: readonly PlanPoint[]): boolean {
  const covered = new Uint8Array(req.count)
  for (const p of points) for (let a = Math.max(p.address, req.start); a < Math.min(p.address + p.width, req.start + req.count); a++) covered[a - req.start] = 1
  return covered.includes(0)
}

/** "holding 0..31" per request, for status and logs. */
export function describeRequest(r: ReadRequest): string {
  return `${r.table} ${r.start}..${r.start + r.count - 1}`
}

import type { ModbusCommonOptions, ModbusPointOptions } from '../options.ts'
import { pointWidth, type Endian } from './codec.ts'
import { hasHoles, planReads, type ReadRequest } from './planner.ts'

/** A point with its byte and word order resolved against the device's. */
export type ModbusPoint = ModbusPointOptions & { byteOrder: Endian; wordOrder: Endian }

type PlanLimits = Pick<ModbusCommonOptions, 'maxRegisters' | 'maxBits' | 'maxGap'>

/** The points polled at one interval, as the read requests one poll of them makes. */
export interface PollGroup {
  every: number
  requests: ReadRequest[]
  running: boolean
  /** Whether any read of this group's last poll succeeded (null: not polled yet or skipped). */
  anyOk: boolean | null
}

/** One group per distinct poll interval (a point's own, else the device's), each planned into the fewest reads. */
export function planGroups(points: Iterable<ModbusPoint>, cfg: PlanLimits & { pollInterval: number }): PollGroup[] {
  const byEvery = new Map<number, ModbusPoint[]>()
  for (const p of points) {
    const every = p.pollInterval ?? cfg.pollInterval
    byEvery.set(every, [...(byEvery.get(every) ?? []), p])
  }
  const opts = { maxRegisters: cfg.maxRegisters, maxBits: cfg.maxBits, maxGap: cfg.maxGap }
  const groups: PollGroup[] = []
  for (const [every, pts] of byEvery) {
    const requests = planReads(
      pts.map((p) => ({ key: p.name, table: p.table, address: p.address, width: pointWidth(p) })),
      opts,
    )
    groups.push({ every, requests, running: false, anyOk: null })
  }
  return groups
}

/**
 * The requests that replace one a slave refused (exception 2/3, typically over registers it does not
 * map): contiguous runs without holes first; a request that had no holes is read point by point.
 */
export function splitRequest(req: ReadRequest, points: ReadonlyMap<string, ModbusPoint>, cfg: PlanLimits): { next: ReadRequest[]; level: 'contiguous' | 'single' } {
  const pts = req.points.map((name) => {
    const p = points.get(name) as ModbusPoint
    return { key: name, table: req.table, address: p.address, width: pointWidth(p) }
  })
  if (hasHoles(req, pts)) return { next: planReads(pts, { maxRegisters: cfg.maxRegisters, maxBits: cfg.maxBits, maxGap: 0 }), level: 'contiguous' }
  return { next: pts.map((p) => ({ table: req.table, start: p.address, count: p.width, points: [p.key] })), level: 'single' }
}

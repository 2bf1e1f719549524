import type { ModbusDeviceConfig, ModbusPointConfig } from '../../config/sections/drivers.ts'
import { pointWidth, type Endian } from './codec.ts'
import { hasHoles, planReads, type ReadRequest } from './planner.ts'

/** A configured point with its resolved byte and word order. */
export type ModbusPoint = ModbusPointConfig & { byteOrder: Endian; wordOrder: Endian }

type PlanLimits = Pick<ModbusDeviceConfig, 'max_registers' | 'max_bits' | 'max_gap'>

/** The points polled at one interval, as the read requests one poll of them makes. */
export interface PollGroup {
  every: number
  requests: ReadRequest[]
  running: boolean
  /** Whether any read of this group's last poll succeeded (null: not polled yet or skipped). */
  anyOk: boolean | null
}

/** One group per distinct poll interval (a point's own, else the device's), each planned into the fewest reads. */
export function planGroups(points: Iterable<ModbusPoint>, cfg: PlanLimits & Pick<ModbusDeviceConfig, 'poll_interval'>): PollGroup[] {
  const byEvery = new Map<number, ModbusPoint[]>()
  for (const p of points) {
    const every = p.poll_interval ?? cfg.poll_interval
    byEvery.set(every, [...(byEvery.get(every) ?? []), p])
  }
  const opts = { maxRegisters: cfg.max_registers, maxBits: cfg.max_bits, maxGap: cfg.max_gap }
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
  if (hasHoles(req, pts)) return { next: planReads(pts, { maxRegisters: cfg.max_registers, maxBits: cfg.max_bits, maxGap: 0 }), level: 'contiguous' }
  return { next: pts.map((p) => ({ table: req.table, start: p.address, count: p.width, points: [p.key] })), level: 'single' }
}

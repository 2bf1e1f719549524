import type { FieldgateError, Reading } from '../../core/index.ts'
import { decode, pointWidth } from './codec.ts'
import { exceptionName, linkCause } from './errors.ts'
import type { ModbusPoint } from './poll-plan.ts'
import { isBitTable, type ReadRequest } from './planner.ts'

/**
 * The readings in one answer: each point of the request decoded from its registers or bits. A float
 * register holding NaN/Inf (a meter's "no value") is not a measurement: quality error, value 0.
 */
export function decodeRequest(device: string, req: ReadRequest, data: ReadonlyArray<number | boolean>, points: ReadonlyMap<string, ModbusPoint>, ts: number): Reading[] {
  const out: Reading[] = []
  for (const name of req.points) {
    const p = points.get(name)
    if (!p) continue
    const off = p.address - req.start
    const value: Reading['value'] = isBitTable(req.table) ? data[off] === true : decode(data.slice(off, off + pointWidth(p)) as number[], p)
    const unit = p.unit ? { unit: p.unit } : {}
    if (typeof value === 'number' && !Number.isFinite(value)) out.push({ device, point: name, value: 0, ...unit, ts, quality: 'error', error: `invalid value ${String(value)}` })
    else out.push({ device, point: name, value, ...unit, ts, quality: 'good' })
  }
  return out
}

/** What a failed point's reading says: the exception's name, 'timeout', or the link's cause. */
export function pointError(fe: FieldgateError): string {
  const mc = fe.details.modbusCode
  if (typeof mc === 'number') return `${exceptionName(mc)} (exception ${mc})`
  if (fe.code === 'DRIVER_TIMEOUT') return 'timeout'
  if (fe.code === 'DRIVER_PORT_UNAVAILABLE') return linkCause(fe)
  return fe.message
}

import { FieldgateError } from '../core/index.ts'

export type ValueKind = 'bool' | 'number' | 'integer' | 'string'

export interface WritablePoint {
  name: string
  writable: boolean
  min?: number
  max?: number
}

export function rejectWrite(device: string, point: string, why: string, details: Record<string, unknown> = {}): FieldgateError {
  return new FieldgateError('DRIVER_WRITE_REJECTED', `write to ${device}/${point} rejected: ${why}`, { details: { device, point, ...details } })
}

/** Checks a command value against the point's kind, `writable` flag and configured range; returns it normalised. */
export function checkWrite(device: string, p: WritablePoint | undefined, pointName: string, kind: ValueKind, value: unknown): number | boolean | string {
  if (!p) throw rejectWrite(device, pointName, 'no such point on this device')
  if (!p.writable) throw rejectWrite(device, p.name, 'point is not writable (set writable = true in its config to allow commands)')
  if (value === undefined || value === null) throw rejectWrite(device, p.name, 'no value in the command payload')
  if (kind === 'bool') {
    if (typeof value === 'boolean') return value
    if (value === 0 || value === 1) return value === 1
    if (value === 'true' || value === 'on') return true
    if (value === 'false' || value === 'off') return false
    throw rejectWrite(device, p.name, `expects true or false, got ${JSON.stringify(value)}`)
  }
  if (kind === 'string') {
    if (typeof value !== 'string') throw rejectWrite(device, p.name, `expects a string, got ${JSON.stringify(value)}`)
    return value
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) throw rejectWrite(device, p.name, `expects a number, got ${JSON.stringify(value)}`)
  if (kind === 'integer' && !Number.isInteger(value)) throw rejectWrite(device, p.name, `expects an integer, got ${value}`)
  if (p.min !== undefined && value < p.min) throw rejectWrite(device, p.name, `${value} is below the configured minimum ${p.min}`)
  if (p.max !== undefined && value > p.max) throw rejectWrite(device, p.name, `${value} is above the configured maximum ${p.max}`)
  return value
}

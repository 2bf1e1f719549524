import type { SerialDeviceOptions, SerialPointOptions } from '../options.ts'
import { parseCsvLine } from './parsers/csv.ts'
import { parseJsonLine } from './parsers/json.ts'
import { parseKvLine } from './parsers/kv.ts'
import { parseNmea } from './parsers/nmea.ts'
import { regexParser } from './parsers/regex.ts'
import type { ParseResult } from './parsers/types.ts'

/** Picks the parser for the configured format; throws a TypeError naming the option when misconfigured. */
export function frameParser(cfg: Pick<SerialDeviceOptions, 'format' | 'columns' | 'separator' | 'kvSeparator' | 'pattern'>): (line: string) => ParseResult {
  switch (cfg.format) {
    case 'json':
      return parseJsonLine
    case 'csv':
      return (l) => parseCsvLine(l, cfg.separator, cfg.columns)
    case 'kv':
      return (l) => parseKvLine(l, cfg.kvSeparator)
    case 'regex':
      if (!cfg.pattern) throw new TypeError('pattern: required when format = "regex"')
      return regexParser(cfg.pattern)
    case 'nmea':
      return parseNmea
  }
}

export type PointValue = { point: SerialPointOptions; value: number | boolean | string } | { point: SerialPointOptions; error: string }

/** Values of the configured points present in a frame's fields, typed and scaled. Absent fields are skipped. */
export function pointValues(fields: Record<string, unknown>, points: readonly SerialPointOptions[]): PointValue[] {
  const out: PointValue[] = []
  for (const p of points) {
    const raw = fields[p.field ?? p.name]
    if (raw === undefined || raw === null || raw === '') continue
    if (p.type === 'string') out.push({ point: p, value: String(raw) })
    else if (p.type === 'bool') {
      const s = String(raw).toLowerCase()
      if (['1', 'true', 'on', 'yes'].includes(s)) out.push({ point: p, value: true })
      else if (['0', 'false', 'off', 'no'].includes(s)) out.push({ point: p, value: false })
      else out.push({ point: p, error: `"${s.slice(0, 20)}" is not a boolean` })
    } else {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN
      if (!Number.isFinite(n)) out.push({ point: p, error: `"${String(raw).slice(0, 20)}" is not a number` })
      else {
        const v = n * p.scale + p.offset
        out.push({ point: p, value: p.scale === 1 ? v : Number(v.toPrecision(12)) })
      }
    }
  }
  return out
}

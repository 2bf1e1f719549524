import type { ParseResult } from './types.ts'

/** One JSON object per line; nested objects become dotted keys ("env.temp"). */
export function parseJsonLine(line: string): ParseResult {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return { error: 'not JSON' }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { error: 'JSON line is not an object' }
  const fields: Record<string, unknown> = {}
  const walk = (o: Record<string, unknown>, prefix: string, depth: number): void => {
    for (const [k, val] of Object.entries(o)) {
      if (typeof val === 'object' && val !== null && !Array.isArray(val) && depth < 8) walk(val as Record<string, unknown>, `${prefix}${k}.`, depth + 1)
      else fields[`${prefix}${k}`] = val
    }
  }
  walk(v as Record<string, unknown>, '', 0)
  return { fields }
}

import type { ParseResult } from './types.ts'

/** `temp=21.5 hum=40` or `temp:21.5, hum:40`: pairs split on whitespace, "," or ";". A line with no pair is garbage. */
export function parseKvLine(line: string, kvSeparator: string): ParseResult {
  const fields: Record<string, unknown> = {}
  let n = 0
  for (const token of line.split(/[\s,;]+/)) {
    if (token === '') continue
    const at = token.indexOf(kvSeparator)
    if (at <= 0) return { error: `"${token.slice(0, 40)}" is not key${kvSeparator}value` }
    fields[token.slice(0, at)] = token.slice(at + kvSeparator.length)
    n++
  }
  return n > 0 ? { fields } : { error: 'no key=value pairs' }
}

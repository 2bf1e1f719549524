import type { ParseResult } from './types.ts'

/**
 * One record per line. With `columns`, fields are named by position and a line with a different number
 * of columns is garbage; without, fields are named "0", "1", ….
 */
export function parseCsvLine(line: string, separator: string, columns?: readonly string[]): ParseResult {
  const cells = line.split(separator).map((c) => c.trim().replace(/^"(.*)"$/, '$1'))
  if (columns && cells.length !== columns.length) return { error: `expected ${columns.length} columns, got ${cells.length}` }
  const fields: Record<string, unknown> = {}
  cells.forEach((c, i) => {
    fields[columns?.[i] ?? String(i)] = c
  })
  return { fields }
}

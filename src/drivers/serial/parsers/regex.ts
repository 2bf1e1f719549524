import type { ParseResult } from './types.ts'

/** Compiles the configured pattern once; it must have at least one named group. */
export function regexParser(pattern: string): (line: string) => ParseResult {
  let re: RegExp
  try {
    re = new RegExp(pattern)
  } catch (err) {
    throw new TypeError(`pattern: not a valid regular expression: ${(err as Error).message}`)
  }
  if (!/\(\?<[A-Za-z_][A-Za-z0-9_]*>/.test(pattern)) throw new TypeError('pattern: needs at least one named group such as (?<temp>[-0-9.]+)')
  return (line) => {
    const m = re.exec(line)
    if (!m?.groups) return { error: 'line does not match pattern' }
    return { fields: { ...m.groups } }
  }
}

import { parse as parseToml } from 'smol-toml'

export const ENV_PREFIX = 'FIELDGATE_'

export interface EnvOverride {
  variable: string
  path: Array<string | number>
}

/**
 * Applies FIELDGATE_A__B__C=value overrides to a parsed config object (mutates and returns it).
 * Path segments are lower-cased; numeric segments index arrays. Values are read as TOML values
 * (numbers, booleans, arrays, quoted strings) and fall back to the raw string.
 */
export function applyEnvOverrides(
  obj: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  ignore: ReadonlySet<string> = new Set(['FIELDGATE_CONFIG']),
): EnvOverride[] {
  const applied: EnvOverride[] = []
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || ignore.has(name)) continue
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s.toLowerCase()))
    if (path.some((s) => s === '')) continue
    setPath(obj, path, parseValue(value))
    applied.push({ variable: name, path })
  }
  return applied
}

export function parseValue(value: string): unknown {
  try {
    return (parseToml(`v = ${value}`) as { v: unknown }).v
  } catch {
    return value
  }
}

function setPath(obj: Record<string, unknown>, path: Array<string | number>, value: unknown): void {
  let cur: Record<string | number, unknown> = obj
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string | number
    const nextIsIndex = typeof path[i + 1] === 'number'
    let child = cur[key]
    if (typeof child !== 'object' || child === null) {
      child = nextIsIndex ? [] : {}
      cur[key] = child
    }
    cur = child as Record<string | number, unknown>
  }
  cur[path[path.length - 1] as string | number] = value
}

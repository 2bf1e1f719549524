import { parse as parseToml } from 'smol-toml'

export const ENV_PREFIX = 'FIELDGATE_'

export interface EnvOverride {
  variable: string
  path: Array<string | number>
}

/** FIELDGATE_* variables that are process settings, not config keys. */
export const ENV_SETTINGS: ReadonlySet<string> = new Set(['FIELDGATE_CONFIG', 'FIELDGATE_TEMPLATES_DIR', 'FIELDGATE_NATIVE_DIR'])

/**
 * Applies FIELDGATE_A__B__C=value overrides to a parsed config object (mutates and returns it).
 * Path segments are lower-cased; numeric segments index arrays. Values are read as TOML values
 * (numbers, booleans, arrays, quoted strings) and fall back to the raw string.
 * A name without "__" is an override only when it names a top-level section (`sections`), so
 * settings such as FIELDGATE_TEMPLATES_DIR are not mistaken for keys; a misspelt SECTION__KEY
 * still reaches validation and is reported as an unknown key.
 */
export function applyEnvOverrides(
  obj: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  ignore: ReadonlySet<string> = ENV_SETTINGS,
  sections?: ReadonlySet<string>,
): EnvOverride[] {
  const applied: EnvOverride[] = []
  for (const [name, value] of Object.entries(env).sort(([a], [b]) => a.localeCompare(b))) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || ignore.has(name)) continue
    const bare = name.slice(ENV_PREFIX.length)
    if (sections && !bare.includes('__') && !sections.has(bare.toLowerCase())) continue
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

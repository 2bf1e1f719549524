import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parse as parseToml, TomlError } from 'smol-toml'
import type { z } from 'zod'
import { FieldgateError } from '../core/errors.ts'
import { applyEnvOverrides, ENV_SETTINGS, type EnvOverride } from './env.ts'
import { lineOfKey } from './lines.ts'
import { configSchema, type Config } from './schema.ts'

export interface LoadedConfig {
  config: Config
  /** Absolute path of the file, or null when running on defaults. */
  file: string | null
  overrides: EnvOverride[]
}

export interface ConfigProblem {
  key: string
  message: string
  file: string | null
  line: number | null
  source: 'file' | 'env' | 'default'
}

/** Loads, applies environment overrides and validates. Throws FieldgateError CONFIG_* naming key, file and line. */
export function loadConfig(file: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  if (file === null) return loadConfigText('', null, env)
  const abs = resolve(file)
  let text: string
  try {
    text = readFileSync(abs, 'utf8')
  } catch (err) {
    throw new FieldgateError('CONFIG_NOT_FOUND', `cannot read config file ${abs}: ${(err as Error).message}`, { cause: err })
  }
  return loadConfigText(text, abs, env)
}

/** Like loadConfig, for TOML text already in memory (the built-in demo config). `name` labels errors. */
export function loadConfigText(text: string, name: string | null, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let raw: Record<string, unknown> = {}
  const abs = name
  if (text !== '') {
    try {
      raw = parseToml(text) as Record<string, unknown>
    } catch (err) {
      const line = err instanceof TomlError ? err.line : null
      const msg = err instanceof Error ? err.message.split('\n')[0] : String(err)
      throw new FieldgateError('CONFIG_PARSE', `${abs}${line ? `:${line}` : ''}: not valid TOML: ${msg}`, {
        cause: err,
        details: { file: abs, line },
      })
    }
  }
  const overrides = applyEnvOverrides(raw, env, ENV_SETTINGS, SECTIONS)
  keepEnvStrings(raw, env, overrides)
  return { config: validateConfig(raw, text, abs, overrides), file: abs, overrides }
}

/**
 * An override is read as a TOML value, so FIELDGATE_UPLINKS__0__PASSWORD=123456 would arrive as a
 * number where a string is wanted. Where the schema expects a string at an overridden path, put the
 * variable's text back.
 */
function keepEnvStrings(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, overrides: EnvOverride[]): void {
  if (overrides.length === 0) return
  const result = configSchema.safeParse(raw)
  if (result.success) return
  for (const issue of result.error.issues) {
    if (issue.code !== 'invalid_type' || issue.expected !== 'string') continue
    const o = overrides.find((x) => x.path.length === issue.path.length && x.path.every((seg, i) => String(seg) === String(issue.path[i])))
    const text = o ? env[o.variable] : undefined
    if (!o || text === undefined) continue
    let cur: unknown = raw
    for (const seg of o.path.slice(0, -1)) cur = (cur as Record<string | number, unknown>)[seg]
    if (cur && typeof cur === 'object') (cur as Record<string | number, unknown>)[o.path[o.path.length - 1] as string | number] = text
  }
}

const SECTIONS: ReadonlySet<string> = new Set(Object.keys(configSchema.shape))

export function validateConfig(raw: unknown, text = '', file: string | null = null, overrides: EnvOverride[] = []): Config {
  const result = configSchema.safeParse(raw)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => describeIssue(issue, text, file, overrides))
  const lines = problems.map((p) => {
    const where = p.source === 'env' ? `environment` : p.file ? `${p.file}${p.line ? `:${p.line}` : ''}` : 'defaults'
    return `  ${p.key || '(root)'} (${where}): ${p.message}`
  })
  throw new FieldgateError('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`, { details: { problems } })
}

function describeIssue(issue: z.core.$ZodIssue, text: string, file: string | null, overrides: EnvOverride[]): ConfigProblem {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))
  let keyPath = path
  let message = issue.message
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys
    keyPath = [...path, keys[0] ?? '']
    message = `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}; check the spelling against docs/configuration.md`
  } else if (issue.code === 'invalid_value') {
    message = `${issue.message}`
  }
  const key = keyPath.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '')
  // The override set this key, or created the unknown key the issue is about (a misspelt section).
  const env = overrides.find((o) => o.path.slice(0, keyPath.length).every((s, i) => String(s) === String(keyPath[i])))
  if (env) return { key, message: `${message} (from ${env.variable})`, file, line: null, source: 'env' }
  const line = text ? lineOfKey(text, keyPath) : null
  return { key, message, file, line, source: file ? 'file' : 'default' }
}

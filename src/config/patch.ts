import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml'
import { FieldgateError } from '../core/index.ts'

/** Deepest nesting a patch may have; a config is a few levels deep. */
const MAX_DEPTH = 16

/** A JSON object or a TOML table (smol-toml makes them without a prototype); not an array, not a TOML date. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto: unknown = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * JSON Merge Patch (RFC 7386) on a parsed config: an object merges key by key, `null` removes the key,
 * anything else (a value, an array such as `devices`) replaces it whole.
 */
export function mergePatch(target: unknown, patch: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw new FieldgateError('CONFIG_INVALID', `config patch nested deeper than ${MAX_DEPTH} levels`)
  if (!isPlainObject(patch)) return patch
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v, depth + 1)
  }
  return out
}

/**
 * The config text a remote patch makes of the running one: `text` parsed as TOML, `patch` merged in
 * (RFC 7386), written back as TOML. The result is validated like any pushed config by the caller;
 * comments of the running text do not survive (the committed text is what the gateway runs).
 */
export function patchConfigText(text: string, patch: unknown): string {
  if (!isPlainObject(patch)) throw new FieldgateError('CONFIG_INVALID', 'a config patch is a JSON object (RFC 7386 merge patch: objects merge, null removes a key, anything else replaces)')
  let current: Record<string, unknown>
  try {
    current = parseToml(text) as Record<string, unknown>
  } catch (err) {
    const msg = err instanceof TomlError ? err.message.split('\n')[0] : String(err)
    throw new FieldgateError('CONFIG_PARSE', `the running config is not valid TOML, so it cannot be patched: ${msg}`)
  }
  const next = mergePatch(current, patch)
  try {
    return `${stringifyToml(next as Record<string, unknown>)}\n`
  } catch (err) {
    throw new FieldgateError('CONFIG_INVALID', `the patched config cannot be written as TOML: ${(err as Error).message}`)
  }
}

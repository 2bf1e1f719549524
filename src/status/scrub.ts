import { redactText } from '../core/redact.ts'

/**
 * Removes secrets from anything the status server serves. Keys that name a secret are replaced;
 * credentials inside URLs (scheme://user:pass@host) are masked. Sources promise no secrets in
 * `details`; this is the second line of defence.
 */
const SECRET_WORD = /pass(word|phrase|wd)|secret|token|credential|authorization|cookie|private|(^|[_-])key$/i
// camelCase apiKey / privateKey, but not "monkey"
const CAMEL_KEY = /[a-z]Key$/
export const MASK = '***'
const COUNT_KEY = /(users|tokens|keys|count|total)$/i

export function isSecretKey(key: string): boolean {
  return SECRET_WORD.test(key) || CAMEL_KEY.test(key)
}

/** Credentials in URLs (passwords, secret query values) masked: the one redaction in core/redact.ts. */
export function scrubString(s: string): string {
  return redactText(s)
}

/** A deep copy without secrets; cycles and depth beyond 12 become "[…]". */
export function scrub(value: unknown, depth = 0, ancestors: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return scrubString(value)
  if (typeof value === 'bigint') return value.toString()
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value
  if (depth > 12 || ancestors.has(value)) return '[…]'
  ancestors.add(value)
  try {
    return scrubObject(value, depth, ancestors)
  } finally {
    ancestors.delete(value)
  }
}

function scrubObject(value: object, depth: number, seen: WeakSet<object>): unknown {
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>`
  if (value instanceof Date) return value.toISOString()
  if (value instanceof Error) return scrubString(value.message)
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, seen))
  if (value instanceof Map) return scrub(Object.fromEntries(value), depth + 1, seen)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    if (isSecretKey(k)) {
      // A count of secrets (passwordUsers: 3, deviceTokens: 12) is not a secret; a technician needs it.
      if (typeof v === 'number' && Number.isInteger(v) && COUNT_KEY.test(k)) out[k] = v
      else if (v !== undefined && v !== null && v !== '') out[k] = MASK
      continue
    }
    out[k] = scrub(v, depth + 1, seen)
  }
  return out
}

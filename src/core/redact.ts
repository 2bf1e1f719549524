/**
 * Credentials out of URLs, wherever a URL is shown: logs, errors, status, health topics, `fieldgate check`.
 * A URL's password (`mqtt://user:pass@host` → `mqtt://user:***@host`) and the values of query parameters
 * that name a secret (`?token=…`, `?password=…`) become `***`. User names stay: a technician needs them.
 *
 * Redaction leans towards hiding too much: a password may hold raw `@`, `:`, `/`, `?` or `#` (people paste
 * them unencoded into config files), so everything up to the last `@` is taken as user info, and where that
 * makes a URL ambiguous the secrets of every reading are hidden (an `@` in a query hides a little more). A URL in text ends at whitespace only, so a quote inside a
 * password cannot end it early.
 */
export const REDACTED = '***'

/** Query parameter names whose values are secrets. */
const SECRET_PARAM = /pass(word|phrase|wd)?|pwd|secret|token|credential|auth|signature|sig$|api[_-]?key|access[_-]?key|^key$/i
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/\S*/gi
const CHEAP_TEST = /:\/\//

type Range = [number, number]

/** Ranges of `text` holding values of secret query parameters, the query taken from the first '?' at or after `from`. */
function queryRanges(text: string, from: number, out: Range[]): void {
  const q = text.indexOf('?', from)
  if (q < 0) return
  const hash = text.indexOf('#', q)
  const end = hash < 0 ? text.length : hash
  let i = q + 1
  while (i <= end) {
    const amp = text.indexOf('&', i)
    const stop = amp < 0 || amp > end ? end : amp
    const eq = text.indexOf('=', i)
    if (eq >= 0 && eq < stop) {
      let name = text.slice(i, eq)
      try {
        name = decodeURIComponent(name)
      } catch {
        // a malformed escape: judge the raw name
      }
      if (SECRET_PARAM.test(name) && stop > eq + 1) out.push([eq + 1, stop])
    }
    i = stop + 1
  }
}

/**
 * One URL (`scheme://…`, no whitespace) with its password and secret query values replaced by `***`.
 * Where a raw character makes the URL ambiguous, every reading's secrets are hidden (their union).
 */
export function redactUrl(url: string): string {
  const sep = url.indexOf('://')
  if (sep < 0) return url
  const start = sep + 3
  const ranges: Range[] = []
  // user info: up to the last '@' (a raw '@', '/', '?' or '#' may be in the password); the password after its first ':'
  const at = url.lastIndexOf('@')
  if (at >= start) {
    const colon = url.indexOf(':', start)
    if (colon >= 0 && colon < at) ranges.push([colon + 1, at])
  }
  // the query read from the first '?', and read from the first '?' after the user info
  queryRanges(url, start, ranges)
  if (at >= start) queryRanges(url, at + 1, ranges)
  if (ranges.length === 0) return url
  ranges.sort((a, b) => a[0] - b[0])
  let out = ''
  let pos = 0
  for (const [from, to] of ranges) {
    if (to <= pos) continue
    if (from > pos) out += url.slice(pos, from) + REDACTED // else it overlaps or touches the previous one
    pos = to
  }
  return out + url.slice(pos)
}

/** Every URL inside free text (an error message, a log line) redacted; other text is left as is. */
export function redactText(text: string): string {
  if (!CHEAP_TEST.test(text)) return text
  return text.replace(URL_IN_TEXT, redactUrl)
}

/**
 * A copy of a log record's fields with URLs in strings redacted (nested plain objects and arrays up to
 * `depth`, Errors as a redacted copy). Returns the same object when nothing needed redacting.
 */
export function redactFields<T>(value: T, depth = 4): T {
  if (typeof value === 'string') return redactText(value) as T
  if (value === null || typeof value !== 'object' || depth <= 0) return value
  if (value instanceof Error) {
    const message = redactText(value.message)
    const stack = value.stack === undefined ? undefined : redactText(value.stack)
    if (message === value.message && stack === value.stack) return value
    const copy = new Error(message)
    copy.name = value.name
    copy.stack = stack
    return copy as T
  }
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((v: unknown) => {
      const r = redactFields(v, depth - 1)
      if (r !== v) changed = true
      return r
    })
    return (changed ? out : value) as T
  }
  const proto: unknown = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return value
  let out: Record<string, unknown> | null = null
  for (const [k, v] of Object.entries(value)) {
    const r = redactFields(v, depth - 1)
    if (r !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = r
  }
  return (out ?? value) as T
}

function decoded(s: string): string {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * A URL without its user info, and the (decoded) user name and password it held, split by the same rule
 * as redactUrl: so what is hidden in logs is exactly what is used as the password. For clients whose own
 * URL parsing mis-splits raw characters in a password (and has Node print the whole URL in a warning).
 */
export function splitCredentials(url: string): { url: string; username?: string; password?: string } {
  const sep = url.indexOf('://')
  if (sep < 0) return { url }
  const start = sep + 3
  const at = url.lastIndexOf('@')
  if (at < start) return { url }
  const userinfo = url.slice(start, at)
  const colon = userinfo.indexOf(':')
  if (colon < 0 && /[/?#\\]/.test(userinfo)) return { url } // an '@' in a path or query, no user info
  const bare = url.slice(0, start) + url.slice(at + 1)
  if (colon < 0) return { url: bare, username: decoded(userinfo) }
  return { url: bare, username: decoded(userinfo.slice(0, colon)), password: decoded(userinfo.slice(colon + 1)) }
}

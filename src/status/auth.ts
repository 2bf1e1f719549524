import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { FieldgateError } from '../core/index.ts'

export interface AuthSettings {
  token_file?: string | undefined
  basic_auth?: { username: string; password_file: string } | undefined
}

export interface Authoriser {
  /** True when nothing is configured. */
  readonly open: boolean
  readonly scheme: 'none' | 'bearer' | 'basic' | 'both'
  check(req: IncomingMessage, url: URL): boolean
}

function readSecret(file: string, what: string): string {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new FieldgateError('AUTH_FILE', `status.${what}: cannot read ${file}: ${(err as Error).message}; create it (mode 600) or remove the key`, { cause: err })
  }
  const secret = (text.split(/\r?\n/)[0] ?? '').trim()
  if (secret === '') throw new FieldgateError('AUTH_FILE', `status.${what}: ${file} is empty; put the secret on its first line`)
  return secret
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
const same = (a: string, b: string): boolean => timingSafeEqual(digest(a), digest(b))

/**
 * Reads secrets once (at start and on reload). Browsers cannot add headers to EventSource, so the
 * bearer token is also accepted as `access_token` in the query string.
 */
export function createAuthoriser(settings: AuthSettings): Authoriser {
  const token = settings.token_file ? readSecret(settings.token_file, 'token_file') : null
  const basic = settings.basic_auth ? { user: settings.basic_auth.username, pass: readSecret(settings.basic_auth.password_file, 'basic_auth.password_file') } : null
  const scheme = token && basic ? 'both' : token ? 'bearer' : basic ? 'basic' : 'none'
  return {
    open: scheme === 'none',
    scheme,
    check(req, url) {
      if (scheme === 'none') return true
      const header = req.headers.authorization ?? ''
      if (token) {
        const m = /^Bearer\s+(\S+)$/i.exec(header)
        const given = m?.[1] ?? url.searchParams.get('access_token')
        if (given && same(given, token)) return true
      }
      if (basic) {
        const m = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header)
        if (m) {
          const decoded = Buffer.from(m[1] as string, 'base64').toString('utf8')
          const i = decoded.indexOf(':')
          if (i >= 0 && same(decoded.slice(0, i), basic.user) && same(decoded.slice(i + 1), basic.pass)) return true
        }
      }
      return false
    },
  }
}

/**
 * The Host header values a loopback-bound page answers: localhost, 127.0.0.1, [::1] and the configured
 * host, with or without a port. No Host at all (HTTP/1.0 tools) is let through: browsers always send one.
 */
export function allowedHosts(configured: string): (host: string | undefined) => boolean {
  const names = new Set(['localhost', '127.0.0.1', '[::1]', configured.toLowerCase().includes(':') && !configured.startsWith('[') ? `[${configured.toLowerCase()}]` : configured.toLowerCase()])
  return (host) => {
    if (host === undefined) return true
    const h = host.trim().toLowerCase()
    const m = /^(\[[^\]]*\]|[^:]*)(?::\d{1,5})?$/.exec(h)
    return m !== null && names.has((m[1] as string).replace(/\.$/, ''))
  }
}

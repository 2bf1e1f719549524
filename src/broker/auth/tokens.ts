import { createHash } from 'node:crypto'
import { FieldgateError } from '../../core/errors.ts'

/**
 * Device tokens file: one `TOKEN DEVICE_ID` per line (whitespace between), `#` comments and blank
 * lines ignored. A device logs in with user name `Token` and its token as the password, as cloud
 * MQTT brokers do. Tokens are looked up by their SHA-256 so the lookup does not compare secrets
 * byte by byte. Tokens shorter than 16 characters are refused: no guessable defaults.
 */

export const TOKEN_USERNAME = 'Token'
export const MIN_TOKEN_LENGTH = 16
const DEVICE_RE = /^[A-Za-z0-9._:@-]{1,128}$/

export function tokenDigest(token: Buffer | string): string {
  return createHash('sha256').update(token).digest('hex')
}

export interface TokenTable {
  /** sha256(token) -> device id */
  byDigest: Map<string, string>
  /** device id -> set of token digests, for revocation diffs */
  byDevice: Map<string, Set<string>>
}

export function parseTokensFile(text: string, file: string): TokenTable {
  const byDigest = new Map<string, string>()
  const byDevice = new Map<string, Set<string>>()
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const parts = line.split(/\s+/)
    const [token, device] = parts
    const where = `${file}:${i + 1}`
    if (parts.length !== 2 || token === undefined || device === undefined) {
      throw new FieldgateError('AUTH_FILE', `${where}: expected "TOKEN DEVICE_ID"`, { details: { file, line: i + 1 } })
    }
    if (token.length < MIN_TOKEN_LENGTH) {
      throw new FieldgateError('AUTH_FILE', `${where}: token for "${device}" is shorter than ${MIN_TOKEN_LENGTH} characters; generate one with "openssl rand -hex 24"`, {
        details: { file, line: i + 1 },
      })
    }
    if (!DEVICE_RE.test(device)) {
      throw new FieldgateError('AUTH_FILE', `${where}: device id "${device}" may use only letters, digits and ._:@-`, { details: { file, line: i + 1 } })
    }
    const digest = tokenDigest(token)
    if (byDigest.has(digest)) throw new FieldgateError('AUTH_FILE', `${where}: token used twice; give each device its own token`, { details: { file, line: i + 1 } })
    byDigest.set(digest, device)
    let set = byDevice.get(device)
    if (!set) byDevice.set(device, (set = new Set()))
    set.add(digest)
  })
  return { byDigest, byDevice }
}

/** Devices that lost at least one token between `before` and `after`: their sessions must end. */
export function revokedDevices(before: TokenTable, after: TokenTable): string[] {
  const out: string[] = []
  for (const [device, digests] of before.byDevice) {
    const now = after.byDevice.get(device)
    for (const d of digests) {
      if (!now?.has(d)) {
        out.push(device)
        break
      }
    }
  }
  return out
}

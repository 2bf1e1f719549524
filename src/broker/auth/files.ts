import { readFile, stat } from 'node:fs/promises'
import { FieldgateError } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import { parseAclFile, type Acl } from './acl.ts'
import { parsePasswordFile, type ParsedHash } from './passwords.ts'
import type { AuthOptions } from '../options.ts'
import { parseTokensFile, revokedDevices, type TokenTable } from './tokens.ts'

/** The configured security files as parsed; a null entry means "not configured". */
export interface AuthFiles {
  users: Map<string, ParsedHash & { line: string }> | null
  tokens: TokenTable | null
  acl: Acl | null
}

async function readText(file: string, what: string, log: Logger, secret: boolean): Promise<string> {
  try {
    if (secret) {
      const st = await stat(file)
      // Group/world-readable secrets are a mistake worth saying out loud, not a reason to refuse to start.
      if ((st.mode & 0o077) !== 0) log.warn({ file, mode: (st.mode & 0o777).toString(8) }, `${what} is readable by other users; chmod 600 it`)
    }
    return await readFile(file, 'utf8')
  } catch (err) {
    throw new FieldgateError('AUTH_FILE', `cannot read ${what} ${file}: ${(err as Error).message}; check broker.auth in the config`, { cause: err, details: { file } })
  }
}

export async function loadFiles(auth: Pick<AuthOptions, 'passwordFile' | 'tokensFile' | 'aclFile'>, log: Logger): Promise<AuthFiles> {
  const p = auth.passwordFile
  const t = auth.tokensFile
  const a = auth.aclFile
  return {
    users: p ? parsePasswordFile(await readText(p, 'password file', log, true), p) : null,
    tokens: t ? parseTokensFile(await readText(t, 'tokens file', log, true), t) : null,
    acl: a ? parseAclFile(await readText(a, 'ACL file', log, false), a) : null,
  }
}

/** Users removed or whose password changed, and devices that lost a token: their clients must go. */
export function revokedIdentities(before: AuthFiles, after: AuthFiles): Array<{ username?: string; deviceId?: string }> {
  const out: Array<{ username?: string; deviceId?: string }> = []
  if (before.users) {
    for (const [user, entry] of before.users) if (after.users?.get(user)?.line !== entry.line) out.push({ username: user })
  }
  if (before.tokens) {
    const empty: TokenTable = { byDigest: new Map(), byDevice: new Map() }
    for (const deviceId of revokedDevices(before.tokens, after.tokens ?? empty)) out.push({ deviceId })
  }
  return out
}

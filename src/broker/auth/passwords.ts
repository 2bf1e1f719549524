import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { FieldgateError } from '../../core/errors.ts'

/**
 * Password file: one `user:hash` per line, `#` comments and blank lines ignored. The hash is a
 * versioned, PHC-style string so the cost can be raised later without breaking old lines:
 *
 *   alice:$scrypt$v=1$ln=14,r=8,p=1$<salt, base64>$<key, base64>
 *
 * `ln` is log2 of scrypt's N. Only hashes are stored; `fieldgate passwd FILE USER` writes them.
 */

export interface ScryptParams {
  ln: number
  r: number
  p: number
}

/** 16 MiB per verification (128 * N * r); a Raspberry Pi does one in roughly 0.2 s. */
export const DEFAULT_SCRYPT: ScryptParams = { ln: 14, r: 8, p: 1 }
const KEY_LEN = 32
const SALT_LEN = 16
const USER_RE = /^[^\s:#][^\s:]*$/

export interface ParsedHash {
  params: ScryptParams
  salt: Buffer
  key: Buffer
}

export function isValidUsername(user: string): boolean {
  return USER_RE.test(user) && Buffer.byteLength(user) <= 65535
}

export function parseHash(hash: string): ParsedHash | null {
  const m = /^\$scrypt\$v=1\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(hash)
  if (!m) return null
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) }
  if (params.ln < 10 || params.ln > 20 || params.r < 1 || params.p < 1) return null
  const salt = Buffer.from(m[4] as string, 'base64')
  const key = Buffer.from(m[5] as string, 'base64')
  if (salt.length < 8 || key.length < 16) return null
  return { params, salt, key }
}

function derive(password: Buffer | string, salt: Buffer, params: ScryptParams, keyLen: number): Promise<Buffer> {
  const N = 2 ** params.ln
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLen, { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    )
  })
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_LEN)
  const key = await derive(password, salt, params, KEY_LEN)
  const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '')
  return `$scrypt$v=1$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`
}

export async function verifyPassword(password: Buffer | string, parsed: ParsedHash): Promise<boolean> {
  const key = await derive(password, parsed.salt, parsed.params, parsed.key.length)
  return timingSafeEqual(key, parsed.key)
}

/** Parses a password file. Throws AUTH_FILE naming the file and line for malformed entries. */
export function parsePasswordFile(text: string, file: string): Map<string, ParsedHash & { line: string }> {
  const users = new Map<string, ParsedHash & { line: string }>()
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    const colon = line.indexOf(':')
    const user = colon > 0 ? line.slice(0, colon) : ''
    const parsed = colon > 0 ? parseHash(line.slice(colon + 1)) : null
    if (!isValidUsername(user) || !parsed) {
      throw new FieldgateError(
        'AUTH_FILE',
        `${file}:${i + 1}: not a "user:$scrypt$..." line; recreate the entry with "fieldgate passwd ${file} USER"`,
        { details: { file, line: i + 1 } },
      )
    }
    users.set(user, { ...parsed, line })
  })
  return users
}

/** Returns the file text with `user`'s line replaced (in place) or appended. */
export function upsertPasswordLine(text: string, user: string, hash: string): string {
  const lines = text === '' ? [] : text.replace(/\r?\n$/, '').split(/\r?\n/)
  const entry = `${user}:${hash}`
  const at = lines.findIndex((l) => l.trim().startsWith(`${user}:`))
  if (at >= 0) lines[at] = entry
  else lines.push(entry)
  return lines.join('\n') + '\n'
}

/** Told +1 when a hash is submitted to the thread pool and -1 when it has answered (tests and benches watch it). */
export type HashProbe = (delta: 1 | -1) => void

/**
 * Checks a login against the users map. Unknown users cost the same scrypt work as known ones so
 * response time does not reveal which user names exist.
 */
export class PasswordChecker {
  private dummy: ParsedHash = { params: DEFAULT_SCRYPT, salt: randomBytes(SALT_LEN), key: randomBytes(KEY_LEN) }
  /** Hashes computed since start (each runs on libuv's thread pool). */
  checks = 0
  /** Hashes running (submitted to the thread pool, not yet answered). */
  running = 0

  constructor(
    private users: Map<string, ParsedHash>,
    private readonly probe?: HashProbe,
  ) {}

  get size(): number {
    return this.users.size
  }

  replace(users: Map<string, ParsedHash>): void {
    this.users = users
  }

  async check(user: string, password: Buffer): Promise<boolean> {
    const entry = this.users.get(user)
    this.checks++
    this.running++
    this.probe?.(1)
    try {
      const ok = await verifyPassword(password, entry ?? this.dummy)
      return ok && entry !== undefined
    } finally {
      this.running--
      this.probe?.(-1)
    }
  }
}

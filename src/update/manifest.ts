import { createHash, sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto'
import { FieldgateError } from '../core/index.ts'
import { keyId, rawPublicKey, type TrustedKey } from './keys.ts'
import { parseSemver } from './semver.ts'

export const MANIFEST_FORMAT = 'fieldgate-update/1'
export type Arch = 'x64' | 'arm64' | 'armv7'
export const ARCHES: readonly Arch[] = ['x64', 'arm64', 'armv7']
export const DEFAULT_CHUNK_SIZE = 256 * 1024
/** Bounds one chunk, so the receiver's memory per chunk is bounded whatever an announce says. */
export const MAX_CHUNK_SIZE = 1024 * 1024
const MIN_CHUNK_SIZE = 1024

/**
 * What `fieldgate sign` writes and an update announce carries. The per-chunk hashes are signed with the
 * rest, so each chunk is checked on arrival: a corrupted chunk is refused before it touches the disk and
 * only that range is asked for again (with only a whole-file hash, a mismatch at the end would not say
 * which range to fetch again). A 40 MB executable in 256 KiB chunks adds 160 hashes (~11 KB).
 */
export interface Manifest {
  format: typeof MANIFEST_FORMAT
  version: string
  arch: Arch
  size: number
  sha256: string
  chunkSize: number
  chunks: string[]
  /** Signed permission to install over a newer version: a replayed old release cannot downgrade. */
  downgrade: boolean
  /**
   * With `downgrade`: the newest running version this manifest may replace (signed). Without it, a
   * downgrade signed once (say 0.3.0 back to 0.2.0) could be replayed years later to take 0.9.0 back
   * to 0.2.0. Null for an upgrade.
   */
  downgradeFrom: string | null
  keyId: string
  signature: string
}

type Unsigned = Omit<Manifest, 'signature'>

/** The signed bytes: the fields in a fixed order, as one JSON array, so no field can be moved or added. */
export function canonicalBytes(m: Unsigned): Buffer {
  const fields: unknown[] = [m.format, m.version, m.arch, m.size, m.sha256, m.chunkSize, m.chunks, m.downgrade, m.keyId]
  // Appended only when set, so an upgrade's signed bytes are what gateways before downgrade_from sign and
  // check; a bounded downgrade does not verify there (they are refused, never downgraded without bound).
  if (m.downgradeFrom !== null) fields.push(m.downgradeFrom)
  return Buffer.from(JSON.stringify(fields))
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.max(1, Math.ceil(size / chunkSize))
}

export function signManifest(fields: Omit<Unsigned, 'format' | 'keyId'>, privateKey: KeyObject): Manifest {
  const unsigned: Unsigned = { format: MANIFEST_FORMAT, ...fields, keyId: keyId(rawPublicKey(privateKey)) }
  const problem = fieldProblem(unsigned)
  if (problem) throw new FieldgateError('UPDATE_REFUSED', `cannot sign: ${problem}`)
  return { ...unsigned, signature: edSign(null, canonicalBytes(unsigned), privateKey).toString('base64') }
}

export function manifestToJson(m: Manifest): string {
  const o = { format: m.format, version: m.version, arch: m.arch, size: m.size, sha256: m.sha256, chunk_size: m.chunkSize, chunks: m.chunks, downgrade: m.downgrade, ...(m.downgradeFrom === null ? {} : { downgrade_from: m.downgradeFrom }), key_id: m.keyId, signature: m.signature }
  return `${JSON.stringify(o, null, 1)}\n`
}

/** Parses a manifest's JSON text; a malformed one is refused with what is wrong (the signature is checked by verifyManifest). */
export function parseManifest(text: string): Manifest {
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch (err) {
    throw refused(`the manifest is not JSON (${(err as Error).message})`)
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw refused('the manifest is not a JSON object')
  const r = o as Record<string, unknown>
  const str = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : bad(k, 'a string'))
  const int = (k: string): number => (Number.isSafeInteger(r[k]) ? (r[k] as number) : bad(k, 'a whole number'))
  const bad = (k: string, want: string): never => {
    throw refused(`manifest field "${k}" must be ${want}`)
  }
  if (r.format !== MANIFEST_FORMAT) throw refused(`manifest format ${JSON.stringify(r.format)} is not ${MANIFEST_FORMAT}; sign it with a matching fieldgate`)
  const chunks = Array.isArray(r.chunks) && r.chunks.every((c) => typeof c === 'string') ? (r.chunks as string[]) : bad('chunks', 'a list of SHA-256 hex strings')
  if (typeof r.downgrade !== 'boolean') bad('downgrade', 'true or false')
  if (r.downgrade_from !== undefined && typeof r.downgrade_from !== 'string') bad('downgrade_from', 'a version string')
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    version: str('version'),
    arch: str('arch') as Arch,
    size: int('size'),
    sha256: str('sha256'),
    chunkSize: int('chunk_size'),
    chunks,
    downgrade: r.downgrade as boolean,
    downgradeFrom: (r.downgrade_from as string | undefined) ?? null,
    keyId: str('key_id'),
    signature: str('signature'),
  }
  const problem = fieldProblem(m)
  if (problem) throw refused(`manifest: ${problem}`)
  return m
}

function fieldProblem(m: Unsigned): string | null {
  const hex64 = /^[0-9a-f]{64}$/
  if (!parseSemver(m.version)) return `version "${m.version}" is not a semantic version like 1.2.3`
  if (!ARCHES.includes(m.arch)) return `arch "${m.arch}" is not one of ${ARCHES.join(', ')}`
  if (m.downgradeFrom !== null && !m.downgrade) return 'downgrade_from is set but downgrade is false'
  if (m.downgradeFrom !== null && !parseSemver(m.downgradeFrom)) return `downgrade_from "${m.downgradeFrom}" is not a semantic version like 1.2.3`
  if (!Number.isSafeInteger(m.size) || m.size <= 0) return `size ${m.size} must be a positive whole number`
  if (!hex64.test(m.sha256)) return 'sha256 must be 64 lowercase hex digits'
  if (!Number.isSafeInteger(m.chunkSize) || m.chunkSize < MIN_CHUNK_SIZE || m.chunkSize > MAX_CHUNK_SIZE) return `chunk_size ${m.chunkSize} must be between ${MIN_CHUNK_SIZE} and ${MAX_CHUNK_SIZE}`
  const n = chunkCount(m.size, m.chunkSize)
  if (m.chunks.length !== n) return `${m.chunks.length} chunk hashes for ${n} chunks of ${m.chunkSize} bytes`
  if (!m.chunks.every((c) => hex64.test(c))) return 'every chunk hash must be 64 lowercase hex digits'
  if (!/^[0-9a-f]{16}$/.test(m.keyId)) return 'key_id must be 16 lowercase hex digits'
  return null
}

/** True when `m`'s signature was made by one of `keys` over its canonical fields. */
export function signatureValid(m: Manifest, keys: readonly TrustedKey[]): { ok: true; key: TrustedKey } | { ok: false; reason: string } {
  const key = keys.find((k) => k.id === m.keyId)
  if (!key) return { ok: false, reason: `it is signed by key ${m.keyId}, which is not in update.public_keys (${keys.length ? keys.map((k) => k.id).join(', ') : 'none configured'})` }
  const sig = Buffer.from(m.signature, 'base64')
  if (sig.length !== 64 || !edVerify(null, canonicalBytes(m), key.key, sig)) return { ok: false, reason: `its signature does not verify with key ${key.id} (altered manifest or wrong key)` }
  return { ok: true, key }
}

export function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex')
}

export function refused(message: string): FieldgateError {
  return new FieldgateError('UPDATE_REFUSED', `update refused: ${message}`)
}

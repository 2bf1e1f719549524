import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { keyId, parsePublicKey, encodePublicKey, type TrustedKey } from '../../src/update/keys.ts'
import { signManifest, type Arch, type Manifest } from '../../src/update/manifest.ts'
import type { UpdatePolicy } from '../../src/update/verify.ts'

export function newKey(): { priv: KeyObject; trusted: TrustedKey; text: string } {
  const { privateKey } = generateKeyPairSync('ed25519')
  const text = encodePublicKey(privateKey)
  const trusted = parsePublicKey(text)
  if (!trusted) throw new Error('generated key does not parse')
  return { priv: privateKey, trusted, text }
}

/** A payload that starts with a real ELF header for `arch` (what elfArch reads), then `body`. */
export function fakeElf(arch: Arch, body: Buffer): Buffer {
  const h = Buffer.alloc(20)
  h.writeUInt32BE(0x7f454c46, 0)
  h[4] = arch === 'armv7' ? 1 : 2
  h[5] = 1
  h.writeUInt16LE({ x64: 62, arm64: 183, armv7: 40 }[arch], 18)
  return Buffer.concat([h, body])
}

export function manifestFor(bytes: Buffer, priv: KeyObject, o: { version?: string; arch?: Arch; chunkSize?: number; downgradeFrom?: string; unboundedDowngrade?: boolean } = {}): Manifest {
  const chunkSize = o.chunkSize ?? 1024
  const chunks: string[] = []
  for (let off = 0; off < bytes.length; off += chunkSize) chunks.push(sha(bytes.subarray(off, off + chunkSize)))
  return signManifest({ version: o.version ?? '0.2.0', arch: o.arch ?? 'x64', size: bytes.length, sha256: sha(bytes), chunkSize, chunks, downgrade: o.downgradeFrom !== undefined || o.unboundedDowngrade === true, downgradeFrom: o.downgradeFrom ?? null }, priv)
}

export function policy(keys: TrustedKey[], o: Partial<UpdatePolicy> = {}): UpdatePolicy {
  return { keys, runningVersion: '0.1.0', arch: 'x64', maxBytes: 10_000_000, ...o }
}

export const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
export { keyId }

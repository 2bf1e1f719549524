import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { FieldgateError } from '../core/index.ts'

/** A public key the gateway trusts: the raw 32-byte Ed25519 key, and its id (what manifests name). */
export interface TrustedKey {
  id: string
  key: KeyObject
}

/** The first 16 hex digits of the SHA-256 of the raw public key: names the key in manifests and errors. */
export function keyId(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 16)
}

/** Raw 32-byte public key of an Ed25519 key object (public or private). */
export function rawPublicKey(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  const jwk = pub.export({ format: 'jwk' })
  if (jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new FieldgateError('UPDATE_REFUSED', 'not an Ed25519 key')
  return Buffer.from(jwk.x, 'base64url')
}

/** Parses a public key as written in the config and in `<key>.pub`: base64 of the raw 32 bytes. */
export function parsePublicKey(text: string): TrustedKey | null {
  const t = text.trim()
  if (!/^[A-Za-z0-9+/]{43}=$/.test(t)) return null
  const raw = Buffer.from(t, 'base64')
  if (raw.length !== 32) return null
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' })
  return { id: keyId(raw), key }
}

export function encodePublicKey(key: KeyObject): string {
  return rawPublicKey(key).toString('base64')
}

export function generateSigningKey(): { privatePem: string; publicText: string; id: string } {
  const { privateKey } = generateKeyPairSync('ed25519')
  const raw = rawPublicKey(privateKey)
  return { privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicText: raw.toString('base64'), id: keyId(raw) }
}

/** An Ed25519 private key from PEM (PKCS#8), or null when the text is not one. */
export function parsePrivateKey(pem: string): KeyObject | null {
  try {
    const key = createPrivateKey(pem)
    return key.asymmetricKeyType === 'ed25519' ? key : null
  } catch {
    return null
  }
}

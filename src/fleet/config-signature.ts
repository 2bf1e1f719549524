import { createHash, verify, type KeyObject } from 'node:crypto'

/**
 * Operator signatures on pushed configs (docs/fleet.md, Security): with `operator_keys` set, a gateway
 * takes a config only when it is signed by one of those Ed25519 keys, for this gateway, and not
 * expired. The signed bytes name the gateway and the config's SHA-256, so a signature neither moves to
 * another gateway nor covers another text; the expiry bounds how long a captured push can be replayed.
 */
export const CONFIG_SIGNATURE_FORMAT = 'fieldgate-config/1'
/** Longest validity a signature may claim, and the clock difference tolerated between operator and gateway. */
export const MAX_SIGNATURE_VALIDITY_MS = 24 * 3_600_000
export const CLOCK_SKEW_MS = 5 * 60_000

export interface ConfigSignature {
  key_id: string
  /** ISO time after which the gateway refuses it. */
  expires: string
  /** Base64 Ed25519 signature over configSigningBytes. */
  sig: string
}

export interface OperatorKey {
  id: string
  key: KeyObject
}

export function configSigningBytes(gatewayId: string, text: string, expires: string): Buffer {
  return Buffer.from(JSON.stringify([CONFIG_SIGNATURE_FORMAT, gatewayId, createHash('sha256').update(text).digest('hex'), expires]))
}

/** Why `s` does not authorise `text` on gateway `gatewayId`, or null when it does. */
export function checkConfigSignature(keys: readonly OperatorKey[], gatewayId: string, text: string, s: ConfigSignature | undefined, now: number): string | null {
  if (!s) return `this gateway takes only configs signed by an operator key (uplinks.management.operator_keys); sign the push (fieldgate fleet config --sign-key FILE)`
  const key = keys.find((k) => k.id === s.key_id)
  if (!key) return `the config is signed by key ${s.key_id}, which is not in uplinks.management.operator_keys (${keys.map((k) => k.id).join(', ')})`
  const expires = Date.parse(s.expires)
  if (!Number.isFinite(expires)) return `the signature's expiry "${s.expires}" is not a time`
  if (expires + CLOCK_SKEW_MS < now) return `the signature expired at ${s.expires} (this gateway's clock says ${new Date(now).toISOString()}); push again`
  if (expires - now > MAX_SIGNATURE_VALIDITY_MS + CLOCK_SKEW_MS) return `the signature claims to be valid until ${s.expires}, more than 24 h ahead; sign pushes for the time they take`
  const sig = Buffer.from(s.sig, 'base64')
  if (sig.length !== 64 || !verify(null, configSigningBytes(gatewayId, text, s.expires), key.key, sig)) return `the signature does not verify with key ${key.id} for gateway ${gatewayId} (signed for another gateway, or the config was altered)`
  return null
}

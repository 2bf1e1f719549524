import { ARCHES, refused, signatureValid, type Arch, type Manifest } from './manifest.ts'
import type { TrustedKey } from './keys.ts'
import { compareSemver, parseSemver } from './semver.ts'

/** What a gateway accepts: set from its config and what it is running. */
export interface UpdatePolicy {
  keys: readonly TrustedKey[]
  runningVersion: string
  arch: Arch
  /** Largest executable accepted (update.max_size): bounds the disk an announce can claim. */
  maxBytes: number
}

/**
 * Refuses (UPDATE_REFUSED, one line saying why) a manifest the gateway must not install: not signed by a
 * trusted key, for another architecture, larger than allowed, or older than the running version without
 * the signed `downgrade` permission bounded by `downgrade_from` (the newest version it may replace).
 * Nothing is written before this passes.
 */
export function checkManifest(m: Manifest, policy: UpdatePolicy): void {
  const sig = signatureValid(m, policy.keys)
  if (!sig.ok) throw refused(`version ${m.version}: ${sig.reason}`)
  if (m.arch !== policy.arch) throw refused(`version ${m.version} is built for ${m.arch}, this gateway runs ${policy.arch}; sign the ${policy.arch} build`)
  if (m.size > policy.maxBytes) throw refused(`version ${m.version} is ${m.size} bytes, more than update.max_size (${policy.maxBytes}); raise update.max_size if this is expected`)
  const next = parseSemver(m.version)
  const running = parseSemver(policy.runningVersion)
  if (next && running && compareSemver(next, running) < 0) {
    if (!m.downgrade) throw refused(`version ${m.version} is older than the running ${policy.runningVersion}; a downgrade must be signed with fieldgate sign --downgrade-from VERSION`)
    const bound = m.downgradeFrom === null ? null : parseSemver(m.downgradeFrom)
    if (!bound) throw refused(`version ${m.version} is a downgrade signed without downgrade_from (no bound on what it may replace); sign it again with fieldgate sign --downgrade-from ${policy.runningVersion}`)
    if (compareSemver(running, bound) > 0) throw refused(`version ${m.version} may replace versions up to ${m.downgradeFrom}, and this gateway runs ${policy.runningVersion}; sign a downgrade from ${policy.runningVersion} if it is meant`)
  }
}

const ELF_MACHINE: Record<number, { arch: Arch; bits: 1 | 2 }> = { 62: { arch: 'x64', bits: 2 }, 183: { arch: 'arm64', bits: 2 }, 40: { arch: 'armv7', bits: 1 } }

/** The architecture of a Linux executable from its ELF header (first 20 bytes), or null when it is not one we build. */
export function elfArch(header: Buffer): Arch | null {
  if (header.length < 20 || header.readUInt32BE(0) !== 0x7f454c46) return null
  const m = ELF_MACHINE[header.readUInt16LE(18)]
  return m && header[4] === m.bits && header[5] === 1 ? m.arch : null
}

/** The architecture this process runs as, in the names builds use. */
export function runningArch(): Arch | null {
  const a = process.arch === 'arm' ? 'armv7' : process.arch
  return (ARCHES as readonly string[]).includes(a) ? (a as Arch) : null
}

import * as z from 'zod'

/** A duration in ms given as a number or a string like "500ms", "30s", "5m", "2h", "7d". */
const DURATION = 'expected a duration like "5s" (units ms, s, m, h, d, e.g. "500ms", "30s", "5m", "2h", "7d") or milliseconds as a whole number'
export const duration = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/).transform(parseDuration)], { error: DURATION })

export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(s.trim())
  if (!m) throw new TypeError(`not a duration: ${s}`)
  const n = Number(m[1])
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd']
  return Math.round(n * unit)
}

/** A size in bytes given as a number or a string like "512KB", "64MB", "2GB". */
const SIZE = 'expected a size like "512MB" (units B, KB, MB, GB, KiB, MiB, GiB, e.g. "64KB", "2GB") or bytes as a whole number'
export const byteSize = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)$/i).transform(parseByteSize)], { error: SIZE })

export function parseByteSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)$/i.exec(s.trim())
  if (!m) throw new TypeError(`not a size: ${s}`)
  const units: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }
  return Math.round(Number(m[1]) * (units[(m[2] as string).toLowerCase()] ?? 1))
}

export const port = z.number().int().min(0).max(65535)
export const qos = z.union([z.literal(0), z.literal(1), z.literal(2)])

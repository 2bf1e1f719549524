/** Largest diagnostics answer, in bytes of JSON: a cloud broker's message limit is often 256 KB or more. */
export const MAX_DIAGNOSTICS_BYTES = 128_000

/**
 * Token bucket for diagnostics requests: `burst` at once, then one every `everyMs`. Pure; the caller
 * passes the time, so it is tested without a clock.
 */
export class RateLimit {
  private tokens: number
  private at: number

  constructor(
    private readonly burst: number,
    private readonly everyMs: number,
    now: number,
  ) {
    this.tokens = burst
    this.at = now
  }

  /** 0 when allowed (and counted), else ms until the next request would be. */
  take(now: number): number {
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.at) / this.everyMs)
    this.at = now
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.ceil((1 - this.tokens) * this.everyMs)
  }
}

/** The newest lines whose total size stays within `maxBytes`, oldest first, and how many were left out. */
export function newestWithin(lines: string[], maxBytes: number): { lines: string[]; omitted: number } {
  const out: string[] = []
  let size = 0
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i] as string
    if (size + l.length + 4 > maxBytes) break
    size += l.length + 4
    out.push(l)
  }
  return { lines: out.reverse(), omitted: lines.length - out.length }
}

/** `value`'s top-level keys in order while their JSON fits in `maxBytes`; the keys that did not fit are named. */
export function fieldsWithin(value: Record<string, unknown>, maxBytes: number): { value: Record<string, unknown>; omitted: string[] } {
  const out: Record<string, unknown> = {}
  const omitted: string[] = []
  let size = 2
  for (const [k, v] of Object.entries(value)) {
    const n = JSON.stringify({ [k]: v }).length
    if (size + n > maxBytes) omitted.push(k)
    else {
      out[k] = v
      size += n
    }
  }
  return { value: out, omitted }
}

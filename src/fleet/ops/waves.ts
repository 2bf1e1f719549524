/** How a rollout grows: the canary wave, then waves `factor` times larger, at most `maxWave` each. */
export interface WavePlan {
  canary: number
  factor: number
  maxWave: number
}

export const DEFAULT_WAVES: WavePlan = { canary: 1, factor: 2, maxWave: 50 }

/** Wave sizes for `n` gateways: e.g. 10 with canary 1, factor 2 → 1, 2, 4, 3. */
export function waveSizes(n: number, p: WavePlan): number[] {
  const out: number[] = []
  let left = n
  let size = Math.max(1, p.canary)
  // Bounded: every pass takes at least one gateway.
  while (left > 0) {
    const take = Math.min(left, Math.max(1, Math.min(Math.floor(size), p.maxWave)))
    out.push(take)
    left -= take
    size = Math.max(size + 1, size * p.factor)
  }
  return out
}

export type Outcome = 'ok' | 'unchanged' | 'failed' | 'skipped' | 'not started'

/** One gateway's result in a rollout. */
export interface GatewayResult {
  id: string
  wave: number
  outcome: Outcome
  /** The last state the gateway reported (committed, rolled_back, refused, staged, timeout…). */
  state: string
  detail: string
  ms: number
}

export interface WaveHooks {
  /** Runs one wave: every gateway of it at once. */
  runWave(ids: string[], wave: number): Promise<GatewayResult[]>
  onWave?(wave: number, of: number, ids: string[]): void
  onWaveDone?(wave: number, results: GatewayResult[], failures: number): void
}

/**
 * Runs the waves in order. After each, when more than `maxFailures` gateways failed in the rollout so
 * far, it stops: the gateways of later waves are `not started`. A wave already running finishes (its
 * requests are out).
 */
export async function runWaves(ids: string[], plan: WavePlan, maxFailures: number, hooks: WaveHooks): Promise<{ results: GatewayResult[]; stopped: boolean }> {
  const sizes = waveSizes(ids.length, plan)
  const results: GatewayResult[] = []
  let failures = 0
  let at = 0
  for (const [i, size] of sizes.entries()) {
    const wave = ids.slice(at, at + size)
    at += size
    hooks.onWave?.(i + 1, sizes.length, wave)
    const got = await hooks.runWave(wave, i + 1)
    results.push(...got)
    failures += got.filter((r) => r.outcome === 'failed').length
    hooks.onWaveDone?.(i + 1, got, failures)
    if (failures > maxFailures) {
      let w = i + 2
      let rest = at
      for (const s of sizes.slice(i + 1)) {
        for (const id of ids.slice(rest, rest + s)) results.push({ id, wave: w, outcome: 'not started', state: '-', detail: `stopped: ${failures} failed, more than --max-failures ${maxFailures}`, ms: 0 })
        rest += s
        w++
      }
      return { results, stopped: true }
    }
  }
  return { results, stopped: false }
}

import type { ConfigSignature } from '../config-signature.ts'
import { configWave } from './config-rollout.ts'
import type { OperatorLink } from './connection.ts'
import { Feeder, type FeederOptions, type UpdatePayload } from './feeder.ts'
import { select, type Selector } from './select.ts'
import { updateWave } from './update-rollout.ts'
import { runWaves, type GatewayResult, type WavePlan } from './waves.ts'

export interface Rollout {
  selector: Selector
  waves: WavePlan
  /** Failed gateways tolerated before the rollout stops (0: the first failure stops it). */
  maxFailures: number
  progress(line: string): void
}

export interface RolloutResult {
  results: GatewayResult[]
  stopped: boolean
  /** Selected ids no inventory knows. */
  unknown: string[]
}

/** The selected gateways that are online, in rollout order; the offline ones are skipped (listed, not tried). */
export function targets(link: OperatorLink, selector: Selector): { ids: string[]; skipped: GatewayResult[]; unknown: string[] } {
  const { ids, unknown } = select(selector, link.inventory)
  const online = ids.filter((id) => link.inventory.get(id)?.online === true)
  const skipped = ids.filter((id) => !online.includes(id)).map((id): GatewayResult => ({ id, wave: 0, outcome: 'skipped', state: 'offline', detail: 'its inventory says offline; not tried', ms: 0 }))
  return { ids: online, skipped, unknown }
}

async function roll(link: OperatorLink, r: Rollout, wave: (ids: string[], n: number) => Promise<GatewayResult[]>): Promise<RolloutResult> {
  const { ids, skipped, unknown } = targets(link, r.selector)
  const run = await runWaves(ids, r.waves, r.maxFailures, {
    runWave: wave,
    onWave: (n, of, w) => r.progress(`wave ${n}/${of}${n === 1 ? ' (canary)' : ''}: ${w.join(', ')}`),
    onWaveDone: (n, got, failures) => {
      const ok = got.filter((g) => g.outcome === 'ok' || g.outcome === 'unchanged').length
      r.progress(`wave ${n} done: ${ok} of ${got.length} ok; ${failures} failed so far (--max-failures ${r.maxFailures})`)
    },
  })
  if (run.stopped) r.progress(`stopped: more than ${r.maxFailures} gateway(s) failed; later waves were not started`)
  return { results: [...run.results, ...skipped], stopped: run.stopped, unknown }
}

/** Pushes a config (`{{id}}` replaced per gateway) in waves. */
export function rolloutConfig(link: OperatorLink, text: string, r: Rollout, o: { deadlineMs?: number; timeoutMs: number; sign?: (id: string, text: string) => ConfigSignature }): Promise<RolloutResult> {
  return roll(link, r, (ids, n) => configWave(link, text, ids, n, { ...o, progress: r.progress }))
}

/** Sends an update in waves through one shared stream of chunks (or has the gateways fetch it from `url`). */
export async function rolloutUpdate(link: OperatorLink, payload: UpdatePayload, r: Rollout, o: { install: boolean; timeoutMs: number; feeder?: FeederOptions; url?: string }): Promise<RolloutResult & { stats: Feeder['stats'] }> {
  const feeder = new Feeder(link, payload, o.feeder)
  feeder.start()
  try {
    const out = await roll(link, r, (ids, n) => updateWave(link, feeder, payload, ids, n, { install: o.install, timeoutMs: o.timeoutMs, progress: r.progress, ...(o.url ? { url: o.url } : {}) }))
    return { ...out, stats: feeder.stats }
  } finally {
    await feeder.stop()
  }
}

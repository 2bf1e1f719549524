import { errorMessage } from '../../core/index.ts'
import type { OperatorLink } from './connection.ts'
import type { GatewayResult } from './waves.ts'

export interface ConfigRolloutOptions {
  /** The commit deadline asked for (`commit_deadline`), ms; the gateway's own when absent. */
  deadlineMs?: number
  /** Longest to wait for one gateway's answer. */
  timeoutMs: number
  progress(line: string): void
}

/** The config text for one gateway: `{{id}}` becomes its id (per-gateway values in one file). */
export function configFor(template: string, id: string): string {
  return template.replaceAll('{{id}}', id)
}

/**
 * One wave of a config rollout: the config goes to every gateway of the wave at once; each answers
 * after its commit gate (committed, unchanged, refused, rolled_back).
 */
export async function configWave(link: OperatorLink, template: string, ids: string[], wave: number, o: ConfigRolloutOptions): Promise<GatewayResult[]> {
  return Promise.all(
    ids.map(async (id): Promise<GatewayResult> => {
      const started = Date.now()
      const done = (outcome: GatewayResult['outcome'], state: string, detail: string): GatewayResult => {
        o.progress(`  ${id}: ${state}${detail ? ` (${detail})` : ''}`)
        return { id, wave, outcome, state, detail, ms: Date.now() - started }
      }
      try {
        const body = { config: configFor(template, id), ...(o.deadlineMs !== undefined ? { commit_deadline: o.deadlineMs } : {}) }
        const r = await link.request(id, 'config', body, o.timeoutMs)
        const state = String(r.state ?? 'failed')
        if (state === 'committed') return done('ok', state, `${String(r.hash ?? '').slice(0, 12)} in ${String(r.took_ms ?? '?')} ms${r.detail ? `; ${String(r.detail)}` : ''}`)
        if (state === 'unchanged') return done('unchanged', state, 'runs this config already')
        return done('failed', state, String(r.reason ?? JSON.stringify(r)).replace(/\s*\n\s*/g, '; '))
      } catch (err) {
        return done('failed', 'timeout', errorMessage(err))
      }
    }),
  )
}

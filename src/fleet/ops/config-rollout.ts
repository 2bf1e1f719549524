import { randomUUID } from 'node:crypto'
import { errorMessage } from '../../core/index.ts'
import type { ConfigSignature } from '../config-signature.ts'
import type { Json, OperatorLink } from './connection.ts'
import type { GatewayResult } from './waves.ts'

export interface ConfigRolloutOptions {
  /** The commit deadline asked for (`commit_deadline`), ms; the gateway's own when absent. */
  deadlineMs?: number
  /** Longest to wait for one gateway's answer. */
  timeoutMs: number
  /** A copy of the request the gateway has not said it received within this is sent again (default 10 s). */
  resendMs?: number
  /** Signs the config for one gateway (`--sign-key`): for gateways that list operator keys. */
  sign?: (id: string, text: string) => ConfigSignature
  progress(line: string): void
}

/** The gateway's commit deadline when the request names none (docs/fleet.md). */
const DEFAULT_COMMIT_DEADLINE_MS = 30_000
/** A refusal because an earlier copy of ours is still being tried: asked again after this. */
const BUSY_RETRY_MS = 2000

/**
 * Pushes one config to one gateway until it answers. On a clustered broker a request (or its answer)
 * is lost with a node that stops: a copy the gateway has not reported `received` within `resendMs`
 * is sent again, and one it received but did not answer once its commit window is surely over.
 * Another copy then finds the first still being tried (refused as busy: asked again shortly) or
 * already committed (`unchanged`). Bounded by `timeoutMs`.
 */
export function pushConfig(link: OperatorLink, id: string, body: Json, o: ConfigRolloutOptions): Promise<{ reply: Json; copies: number }> {
  const end = Date.now() + o.timeoutMs
  const resendMs = Math.max(500, o.resendMs ?? 10_000)
  const windowMs = (o.deadlineMs ?? DEFAULT_COMMIT_DEADLINE_MS) + resendMs
  const heard = new Set<string>()
  const off = link.onGateway((m) => {
    const c = m.body.correlation_data ?? m.body.correlation_id
    if (m.id === id && m.kind === 'event' && m.body.state === 'received' && typeof c === 'string') heard.add(c)
  })
  return new Promise((resolve, reject) => {
    let copies = 0
    let settled = false
    let timer: NodeJS.Timeout | undefined
    const finish = (f: () => void): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      off()
      f()
    }
    const later = (f: () => void, ms: number): void => {
      clearTimeout(timer)
      timer = setTimeout(f, Math.max(0, Math.min(ms, end - Date.now())))
    }
    const fail = (): void => finish(() => reject(new Error(`no answer from ${id} to config within ${Math.round(o.timeoutMs / 1000)} s (${copies} ${copies === 1 ? 'copy' : 'copies'} sent)`)))
    const send = (): void => {
      if (settled) return
      const left = end - Date.now()
      if (left <= 0) return fail()
      if (copies > 0) o.progress(`  ${id}: no answer yet; sending the config again (copy ${copies + 1})`)
      copies++
      const corr = randomUUID()
      link.request(id, 'config', body, left, corr).then(
        (r) => {
          if (copies > 1 && r.state === 'refused' && /another config is being tried/.test(String(r.reason))) later(send, BUSY_RETRY_MS)
          else finish(() => resolve({ reply: r, copies }))
        },
        // Each copy waits until the end: its timing out is the end of the push.
        () => fail(),
      )
      later(() => (heard.has(corr) ? later(send, windowMs - resendMs) : send()), resendMs)
    }
    send()
  })
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
        const text = configFor(template, id)
        const body = { config: text, ...(o.deadlineMs !== undefined ? { commit_deadline: o.deadlineMs } : {}), ...(o.sign ? { signature: o.sign(id, text) } : {}) }
        const { reply: r, copies } = await pushConfig(link, id, body, o)
        const state = String(r.state ?? 'failed')
        if (state === 'committed') return done('ok', state, `${String(r.hash ?? '').slice(0, 12)} in ${String(r.took_ms ?? '?')} ms${r.detail ? `; ${String(r.detail)}` : ''}`)
        if (state === 'unchanged') return done('unchanged', state, copies > 1 ? `runs this config (an earlier copy's answer was lost, or it ran it already); ${copies} copies sent` : 'runs this config already')
        return done('failed', state, String(r.reason ?? JSON.stringify(r)).replace(/\s*\n\s*/g, '; '))
      } catch (err) {
        return done('failed', 'timeout', errorMessage(err))
      }
    }),
  )
}

import { errorMessage } from '../../core/index.ts'
import type { Json, OperatorLink } from './connection.ts'
import { expandRanges, Feeder, type UpdatePayload } from './feeder.ts'
import type { GatewayResult } from './waves.ts'

export interface UpdateRolloutOptions {
  /** Install once received (the default), or only receive and verify (`--stage`). */
  install: boolean
  /** The gateways fetch the bytes from this HTTPS URL themselves; nothing is published. */
  url?: string
  /** Longest one gateway may take from the announce to its outcome. */
  timeoutMs: number
  progress(line: string): void
}

/** How long an announce may go unanswered (the gateway hashes its own executable the first time). */
const ANNOUNCE_TIMEOUT_MS = 60_000

interface Tracker {
  id: string
  wave: number
  started: number
  /** The inventory's update outcome time before the announce: a later one is this update's. */
  before: string | null
  state: string
  detail: string
  result: GatewayResult | null
  shownPercent: number
}

/**
 * One wave of an update rollout. Every gateway of the wave is announced at once; those that accept
 * share one stream of chunks (the Feeder), each asking for what it missed. A gateway succeeds when its
 * inventory (or its events) report the update committed after its health gate (or, with `--stage`,
 * received and verified); it fails when it refuses, reports a failure, rolls back or times out.
 */
export async function updateWave(link: OperatorLink, feeder: Feeder, payload: UpdatePayload, ids: string[], wave: number, o: UpdateRolloutOptions): Promise<GatewayResult[]> {
  const trackers = new Map<string, Tracker>()
  const finish = (t: Tracker, outcome: GatewayResult['outcome'], state: string, detail: string): void => {
    if (t.result) return
    t.state = state
    t.result = { id: t.id, wave, outcome, state, detail, ms: Date.now() - t.started }
    feeder.leave(t.id)
    o.progress(`  ${t.id}: ${state}${detail ? ` (${detail})` : ''}`)
  }
  const off = link.onGateway((m) => {
    const t = trackers.get(m.id)
    if (!t || t.result) return
    if (m.kind === 'transfer') {
      feeder.onTransfer(m.id, m.body)
      if (m.body.transfer !== feeder.transfer) return
      const have = Number(m.body.have)
      const pct = Math.floor((100 * have) / payload.chunks)
      if (pct >= t.shownPercent + 25 || (have === payload.chunks && t.shownPercent < 100)) {
        t.shownPercent = have === payload.chunks ? 100 : pct - (pct % 25)
        o.progress(`  ${t.id}: received ${t.shownPercent}% (${have}/${payload.chunks} chunks)`)
      }
      if (have === payload.chunks) feeder.leave(t.id)
      return
    }
    onEvent(t, m.body)
  })
  const onEvent = (t: Tracker, e: Json): void => {
    if (e.op !== 'update') return
    const reason = typeof e.reason === 'string' ? e.reason : ''
    if (e.state === 'failed' || e.state === 'refused') finish(t, 'failed', String(e.state), reason)
    else if (e.state === 'staged' && !o.install && e.version === payload.version) finish(t, 'ok', 'staged', 'received and verified; not installed')
    else if (e.state === 'installed' && t.state !== 'installed') {
      t.state = 'installed'
      o.progress(`  ${t.id}: installed; restarting into ${payload.version} (health gate next)`)
    } else if (e.state === 'chunk_refused') o.progress(`  ${t.id}: a chunk was refused (${reason}); it asks for it again`)
    else if ((e.state === 'committed' || e.state === 'rolled_back') && e.version === payload.version && e.at !== t.before) {
      if (e.state === 'committed') finish(t, 'ok', 'committed', `version ${payload.version} passed its health gate`)
      else finish(t, 'failed', 'rolled_back', reason)
    }
  }
  const checkInventory = (t: Tracker): void => {
    const inv = link.inventory.get(t.id)
    const u = inv?.update as { version?: string; outcome?: string; at?: string; reason?: string } | null | undefined
    if (u && u.version === payload.version && u.at !== t.before) {
      if (u.outcome === 'committed') finish(t, 'ok', 'committed', `version ${payload.version} passed its health gate`)
      else finish(t, 'failed', 'rolled_back', u.reason ?? '')
    }
    const tr = inv?.transfer as { transfer?: string; state?: string } | null | undefined
    if (!o.install && tr?.transfer === feeder.transfer && tr.state === 'staged') finish(t, 'ok', 'staged', 'received and verified; not installed')
  }

  for (const id of ids) {
    const u = link.inventory.get(id)?.update as { at?: string } | null | undefined
    trackers.set(id, { id, wave, started: Date.now(), before: u?.at ?? null, state: 'announcing', detail: '', result: null, shownPercent: 0 })
  }
  try {
    const manifest = JSON.parse(payload.manifestText) as Json
    // Every answer first, then one stream: a gateway joining after chunk i went out would need it again.
    const joins: Array<[string, number[]]> = []
    await Promise.all(
      [...trackers.values()].map(async (t) => {
        let r: Json
        try {
          r = await link.request(t.id, 'update', { manifest, install: o.install, ...(o.url ? { url: o.url } : {}) }, ANNOUNCE_TIMEOUT_MS)
        } catch (err) {
          return finish(t, 'failed', 'timeout', errorMessage(err))
        }
        if (r.state === 'unchanged') return finish(t, 'unchanged', 'unchanged', String(r.reason ?? ''))
        if (r.ok !== true || r.state !== 'receiving') return finish(t, 'failed', String(r.state ?? 'failed'), String(r.reason ?? JSON.stringify(r)))
        const missing = expandRanges(r.missing, payload.chunks)
        t.state = 'receiving'
        o.progress(`  ${t.id}: receiving ${payload.version}${o.url ? ` from ${String(r.url)}` : ''}${r.resumed === true ? ' (resumed)' : ''}: ${payload.chunks - missing.length}/${payload.chunks} chunks on disk`)
        if (missing.length > 0 && !o.url) joins.push([t.id, missing])
      }),
    )
    for (const [id, missing] of joins) feeder.join(id, missing)
    // Bounded by each gateway's timeout.
    while ([...trackers.values()].some((t) => !t.result)) {
      for (const t of trackers.values()) {
        if (t.result) continue
        checkInventory(t)
        if (!t.result && Date.now() - t.started > o.timeoutMs) finish(t, 'failed', 'timeout', `no outcome within ${Math.round(o.timeoutMs / 1000)} s (last: ${t.state})`)
      }
      await new Promise((r) => setTimeout(r, 250))
    }
  } finally {
    off()
  }
  return ids.map((id) => trackers.get(id)?.result as GatewayResult)
}

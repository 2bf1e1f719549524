import { redactText, type Health } from '../core/index.ts'

/** What the gateway knows about itself; the fleet module adds the management fields. No secrets: a fixed set of fields. */
export interface InventoryFacts {
  version: string
  build: { node: string; executable: boolean }
  board: { arch: string; platform: string; model: string | null; hostname: string }
  startedAt: number
  parts: Record<string, { health: Health; reason?: string }>
  /** Entries waiting in each uplink's queue. */
  backlog: Record<string, number>
  /** The last over-the-air update's outcome (`<exe>.update-result`), or null. */
  update?: UpdateFacts | null
  /** An update being received over the channel, or staged (fleet/transfer.ts), or null. */
  transfer?: Record<string, unknown> | null
}

export interface UpdateFacts {
  outcome: 'committed' | 'rolled-back'
  version: string
  previousVersion: string
  at: string
  reason: string
}

/** Longest update reason the inventory carries. */
const MAX_REASON = 500

export interface ConfigFacts {
  hash: string
  source: 'file' | 'remote'
  committedAt: string | null
}

export function worst(parts: Record<string, { health: Health }>): Health {
  const hs = Object.values(parts).map((p) => p.health)
  return hs.includes('down') ? 'down' : hs.includes('degraded') ? 'degraded' : 'ok'
}

export function inventory(id: string, online: boolean, f: InventoryFacts, c: ConfigFacts, now: number, protocolVersion: 4 | 5): Record<string, unknown> {
  return {
    id,
    online,
    version: f.version,
    build: f.build,
    board: f.board,
    config: { hash: c.hash, source: c.source, committed_at: c.committedAt },
    started_at: new Date(f.startedAt).toISOString(),
    uptime_s: Math.max(0, Math.round((now - f.startedAt) / 1000)),
    health: { overall: worst(f.parts), parts: Object.fromEntries(Object.entries(f.parts).map(([k, v]) => [k, v.reason ? { health: v.health, reason: v.reason } : { health: v.health }])) },
    backlog: f.backlog,
    update: f.update
      ? { running: f.version, version: f.update.version, previous_version: f.update.previousVersion, outcome: f.update.outcome, reason: redactText(f.update.reason).slice(0, MAX_REASON), at: f.update.at }
      : null,
    transfer: f.transfer ?? null,
    mgmt: { protocol: protocolVersion === 5 ? 'mqtt5' : 'mqtt3.1.1', requests: `fieldgate/${id}/mgmt/req/{config,inventory,logs,status,update}` },
    ts: new Date(now).toISOString(),
  }
}

/** What counts as a change worth republishing at once: not uptime nor exact backlog, which the periodic refresh carries. */
export function fingerprint(inv: Record<string, unknown>): string {
  const h = inv.health as { parts: Record<string, { health: Health }> }
  const t = inv.transfer as { transfer?: unknown; state?: unknown } | null
  return JSON.stringify([inv.online, inv.version, inv.config, inv.update, t ? [t.transfer, t.state] : null, Object.entries(h.parts).map(([k, v]) => [k, v.health])])
}

/**
 * Whether a message on the gateway's own inventory topic says it is offline: its Last Will. Only a live
 * one (not the retained copy a subscription brings) arriving while the link is up is late (docs/fleet.md).
 */
export function marksOffline(payload: Buffer): boolean {
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown
    return typeof v === 'object' && v !== null && (v as { online?: unknown }).online === false
  } catch {
    return false
  }
}

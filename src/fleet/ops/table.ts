import type { Json } from './connection.ts'
import type { GatewayResult } from './waves.ts'

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].join('\n')
}

function age(seconds: unknown): string {
  const s = typeof seconds === 'number' ? seconds : NaN
  if (!Number.isFinite(s)) return '-'
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  if (s < 172800) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86400)}d`
}

/** `fieldgate fleet list`: one row per gateway from its retained inventory. */
export function inventoryTable(inv: ReadonlyMap<string, Json>, ids: string[]): string {
  const rows = ids.map((id) => {
    const i = inv.get(id) ?? {}
    const board = (i.board ?? {}) as Json
    const config = (i.config ?? {}) as Json
    const health = (i.health ?? {}) as Json
    const u = i.update as Json | null | undefined
    const t = i.transfer as Json | null | undefined
    const backlog = Object.values((i.backlog ?? {}) as Record<string, number>).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0)
    return [
      id,
      i.online === true ? 'online' : 'offline',
      String(i.version ?? '-'),
      String(board.arch ?? '-'),
      `${String(config.hash ?? '').slice(0, 12) || '-'} ${String(config.source ?? '')}`.trim(),
      String(health.overall ?? '-'),
      i.online === true ? age(i.uptime_s) : '-',
      String(backlog),
      u ? `${String(u.version)} ${String(u.outcome)}` : '-',
      t ? `${String(t.version)} ${String(t.state)} ${String(t.have)}/${String(t.chunks)}` : '-',
    ]
  })
  return table(['ID', 'STATE', 'VERSION', 'ARCH', 'CONFIG', 'HEALTH', 'UPTIME', 'BACKLOG', 'LAST UPDATE', 'TRANSFER'], rows)
}

/** The final table of a rollout. */
export function resultTable(results: GatewayResult[]): string {
  return table(
    ['ID', 'WAVE', 'RESULT', 'STATE', 'TIME', 'DETAIL'],
    results.map((r) => [r.id, r.wave > 0 ? String(r.wave) : '-', r.outcome, r.state, r.ms > 0 ? `${(r.ms / 1000).toFixed(1)}s` : '-', r.detail.length > 160 ? `${r.detail.slice(0, 157)}...` : r.detail]),
  )
}

import type { Status } from '../core/index.ts'
import { UplinkHistory } from './history.ts'
import type { StatusState } from './state.ts'

/**
 * Run every 2 s on the sources' status: a module whose health changes is listed under recent problems
 * (with its reason, and when it is ok again), and the uplinks' backlog and send rate are sampled into
 * their history. Every tick is sampled: a 10 s bucket keeps the highest and lowest of its five samples,
 * so a backlog peak between two bucket starts still shows on the chart.
 */
export class SourceWatch {
  readonly uplinks = new UplinkHistory()
  private readonly lastHealth = new Map<string, string>()
  /** Modules listed as in trouble and not yet listed as ok again. */
  private readonly troubled = new Set<string>()

  constructor(private readonly state: StatusState) {}

  tick(all: Record<string, Status>, now: number): void {
    for (const [name, s] of Object.entries(all)) {
      const prev = this.lastHealth.get(name)
      this.lastHealth.set(name, s.health)
      // The drivers' summary is not a module of its own: devices report their changes themselves.
      if (prev === undefined || prev === s.health || name === 'drivers') continue
      const why = s.reason === undefined ? {} : { reason: s.reason }
      if (s.health !== 'ok') {
        this.troubled.add(name)
        this.state.note({ ts: now, source: name, state: s.health, ...why })
      } else if (this.troubled.delete(name)) {
        // Only after a listed problem: an uplink that connects after start was never in trouble.
        this.state.note({ ts: now, source: name, state: 'ok again', ...why })
      }
    }
    this.sampleUplinks(all, now)
  }

  private sampleUplinks(all: Record<string, Status>, now: number): void {
    const figures: Record<string, { backlog: number | null; sent: number | null }> = {}
    for (const [name, s] of Object.entries(all)) {
      if (!name.startsWith('uplink:')) continue
      const d = s.details as { backlog?: unknown; published?: unknown }
      figures[name.slice('uplink:'.length)] = { backlog: typeof d.backlog === 'number' ? d.backlog : null, sent: typeof d.published === 'number' ? d.published : null }
    }
    this.uplinks.sample(now, figures)
  }
}

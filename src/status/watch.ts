import type { Status } from '../core/index.ts'
import { UplinkHistory, UPLINK_BUCKET_MS } from './history.ts'
import type { StatusState } from './state.ts'

/**
 * Run every 2 s on the sources' status: a module whose health changes is listed under recent problems
 * (with its reason, and when it is ok again), and once per bucket the uplinks' backlog and sent count
 * are sampled into their history.
 */
export class SourceWatch {
  readonly uplinks = new UplinkHistory()
  private readonly lastHealth = new Map<string, string>()
  private lastSampleBucket = -1

  constructor(private readonly state: StatusState) {}

  tick(all: Record<string, Status>, now: number): void {
    for (const [name, s] of Object.entries(all)) {
      const prev = this.lastHealth.get(name)
      // The drivers' summary is not a module of its own: devices report their changes themselves.
      if (prev !== undefined && prev !== s.health && name !== 'drivers') {
        this.state.note({ ts: now, source: name, state: s.health === 'ok' ? 'ok again' : s.health, ...(s.reason === undefined ? {} : { reason: s.reason }) })
      }
      this.lastHealth.set(name, s.health)
    }
    const bucket = Math.floor(now / UPLINK_BUCKET_MS)
    if (bucket !== this.lastSampleBucket) {
      this.lastSampleBucket = bucket
      this.sampleUplinks(all, now)
    }
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

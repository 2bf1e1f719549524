import type { LocalBroker, Logger, QueueStats, Status } from '../core/index.ts'
import { errorMessage, redactUrl } from '../core/index.ts'
import type { PublishCounters } from './publisher.ts'
import type { LinkState } from './supervisor.ts'

/** What an uplink reports in status() and its health topics, read from the parts that know it. */
export interface UplinkFacts {
  name: string
  clientId: string
  link: {
    state: LinkState
    since: number
    offlineSince: number | null
    server: string
    lastError: string | null
    reconnects: number
    attempts: number
  }
  probe: { rtt: number | null; lastAt: number | null }
  counters: PublishCounters
  /** The current connection's publish path; null while there is none. */
  connection: { inflight: number; waiting: number } | null
  downlink: { downlinked: number; loopsDropped: number }
  qos2Open: number
  qos2Released: number
  queue: QueueStats | undefined
  now: number
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString())

/** status().details of an uplink; the server URL is shown redacted (it may carry a password). */
export function uplinkDetails(f: UplinkFacts): Record<string, unknown> {
  const q = f.queue
  const backlog = q ? { backlog: q.depth, oldestAgeMs: q.oldestEnqueuedAt === null ? null : Math.max(0, f.now - q.oldestEnqueuedAt) } : {}
  return {
    name: f.name,
    state: f.link.state,
    since: iso(f.link.since),
    offlineSince: iso(f.link.offlineSince),
    server: redactUrl(f.link.server),
    clientId: f.clientId,
    lastError: f.link.lastError,
    reconnects: f.link.reconnects,
    attempts: f.link.attempts,
    rttMs: f.probe.rtt,
    lastProbeAt: iso(f.probe.lastAt),
    lastAckAt: iso(f.counters.lastAckAt),
    inflight: f.connection?.inflight ?? 0,
    published: f.counters.published,
    expired: f.counters.expired,
    downlinked: f.downlink.downlinked,
    loopsDropped: f.downlink.loopsDropped,
    waiting: f.connection?.waiting ?? 0,
    qos2Open: f.qos2Open,
    qos2Released: f.qos2Released,
    ...backlog,
  }
}

/**
 * Mirrors an uplink's health as retained local topics `$SYS/fieldgate/bridge/{name}/{key}` so LAN
 * clients and the status page can watch it. Publishes only values that changed.
 */
export class HealthTopics {
  private readonly last = new Map<string, string>()

  constructor(
    private readonly local: LocalBroker | undefined,
    private readonly name: string,
    private readonly origin: string,
    private readonly logger: Logger,
  ) {}

  /** The health topics from status().details (uplinkDetails). */
  publishDetails(d: Record<string, unknown>): void {
    this.publish({
      state: d.state,
      since: d.since,
      last_error: d.lastError,
      reconnects: d.reconnects,
      rtt: d.rttMs,
      last_ack: d.lastAckAt,
      server: d.server,
      ...(d.backlog === undefined ? {} : { backlog: d.backlog, oldest_age: d.oldestAgeMs }),
    })
  }

  publish(details: Record<string, unknown>): void {
    if (!this.local) return
    for (const [key, value] of Object.entries(details)) {
      const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)
      if (this.last.get(key) === text) continue
      this.last.set(key, text)
      this.local
        .publish({
          topic: `$SYS/fieldgate/bridge/${this.name}/${key}`,
          payload: Buffer.from(text),
          qos: 0,
          retain: true,
          origin: this.origin,
        })
        .catch((err: unknown) => this.logger.debug({ err: errorMessage(err), key }, 'bridge health topic not published'))
    }
  }
}

export function healthOf(state: string, lastError: string | null): Pick<Status, 'health' | 'reason'> {
  if (state === 'online') return { health: 'ok' }
  const reason = lastError ?? state
  return state === 'offline' ? { health: 'down', reason } : { health: 'degraded', reason }
}

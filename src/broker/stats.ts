import type { Clock } from '../core/clock.ts'
import { errorMessage } from '../core/errors.ts'
import { LogLimiter } from '../core/log-limit.ts'
import type { Logger } from '../core/logger.ts'

export type LimitKind =
  | 'connections'
  | 'connections_per_address'
  | 'pending_per_address'
  | 'pending_evicted'
  | 'connect_timeout'
  | 'packet_size'
  | 'inflight'
  | 'queued_messages'
  | 'queued_bytes'
  | 'subscriptions'
  | 'topic_length'
  | 'topic_levels'
  | 'keepalive'
  | 'session_expiry'
  | 'retained'
  | 'publish_rate'

/** Where a message was when it could not be handled (see dropped()). */
export type DropStage = 'encode' | 'route' | 'deliver' | 'retain' | 'will'

/**
 * Counters, rates, limit hits and dropped messages. Repeated warnings go through one LogLimiter per
 * broker: the first line per reason, then a summary with the count every 10 s.
 */
export class Stats {
  messagesIn = 0
  messagesOut = 0
  /** Messages dropped because handling them threw (a bug or a bad message): never fatal to the process. */
  messagesDropped = 0
  bytesIn = 0
  bytesOut = 0
  connectionsTotal = 0
  readonly limitHits: Partial<Record<LimitKind, number>> = {}
  readonly startedAt: number
  rates = { messagesInPerSec: 0, messagesOutPerSec: 0, bytesInPerSec: 0, bytesOutPerSec: 0 }
  readonly droppedBy: Partial<Record<DropStage, number>> = {}
  readonly logs: LogLimiter
  private sample: { at: number; mi: number; mo: number; bi: number; bo: number }

  constructor(
    private readonly clock: Clock,
    logger: Logger,
  ) {
    this.logs = new LogLimiter(logger, clock)
    this.startedAt = clock.now()
    this.sample = { at: this.startedAt, mi: 0, mo: 0, bi: 0, bo: 0 }
  }

  /** Recompute rates over the time since the previous call (called from the broker's sweep). */
  updateRates(): void {
    const now = this.clock.now()
    const dt = (now - this.sample.at) / 1000
    if (dt < 1) return
    this.rates = {
      messagesInPerSec: Math.round((this.messagesIn - this.sample.mi) / dt),
      messagesOutPerSec: Math.round((this.messagesOut - this.sample.mo) / dt),
      bytesInPerSec: Math.round((this.bytesIn - this.sample.bi) / dt),
      bytesOutPerSec: Math.round((this.bytesOut - this.sample.bo) / dt),
    }
    this.sample = { at: now, mi: this.messagesIn, mo: this.messagesOut, bi: this.bytesIn, bo: this.bytesOut }
  }

  limit(kind: LimitKind, clientId: string, detail: string): void {
    this.limitHits[kind] = (this.limitHits[kind] ?? 0) + 1
    this.logs.log('warn', `limit:${kind}`, { clientId, limit: kind }, `client ${clientId || '(not connected)'} hit broker limit ${kind}: ${detail}`)
  }

  /** One message could not be encoded, routed or delivered: it is dropped, counted and logged; nothing else stops. */
  dropped(stage: DropStage, clientId: string, topic: string, err: unknown): void {
    this.messagesDropped++
    this.droppedBy[stage] = (this.droppedBy[stage] ?? 0) + 1
    this.logs.log(
      'error',
      `dropped:${stage}`,
      { clientId: clientId || undefined, topic, stage, err: errorMessage(err) },
      `message on ${topic} dropped (${stage}${clientId ? ` for client ${clientId}` : ''}): ${errorMessage(err)}`,
    )
  }
}

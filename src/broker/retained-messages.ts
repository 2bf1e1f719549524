import type { Clock } from '../core/clock.ts'
import { errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { RetainedStore } from '../core/persistence.ts'
import type { Message } from '../core/types.ts'
import { RetainedTree } from './retained.ts'
import type { Stats } from './stats.ts'
import type { BrokerLimits } from './types.ts'

/**
 * The retained messages: the tree in memory and the store behind it (written without waiting; a failed
 * write is logged), with max_retained and Message Expiry. `$SYS` topics are kept in memory only.
 */
export class RetainedMessages {
  private readonly tree = new RetainedTree()

  constructor(
    private readonly store: RetainedStore,
    private readonly limits: Pick<BrokerLimits, 'maxRetained'>,
    private readonly clock: Clock,
    private readonly stats: Pick<Stats, 'limit'>,
    private readonly logger: Logger,
  ) {}

  get size(): number {
    return this.tree.size
  }

  async load(): Promise<void> {
    for (const m of await this.store.loadAll()) this.tree.set(m)
  }

  /** Retained messages matching a (non-shared) filter. */
  match(filter: string): Message[] {
    return this.tree.match(filter)
  }

  /** Keep `m` as its topic's retained message, or clear the topic for an empty payload. */
  retain(m: Message): void {
    const sys = m.topic.startsWith('$SYS/')
    if (m.payload.length === 0) {
      // [MQTT-3.3.1-10] an empty retained payload clears the topic and is not stored
      if (this.tree.delete(m.topic) && !sys) this.op('delete', this.store.delete(m.topic))
      return
    }
    if (this.full(m.topic)) {
      this.stats.limit('retained', m.origin ?? '', `max_retained (${this.limits.maxRetained}) reached; ${m.topic} not retained`)
      return
    }
    this.tree.set(m)
    if (!sys) this.op('put', this.store.put(m))
  }

  /** True when a non-empty retained message on `topic` would be a new topic beyond max_retained (0 = no limit). */
  full(topic: string): boolean {
    const max = this.limits.maxRetained
    return max > 0 && this.tree.size >= max && !topic.startsWith('$SYS/') && this.tree.get(topic) === null
  }

  /** True (and the message is dropped from the retained set) when its Message Expiry Interval has passed. */
  expired(m: Message): boolean {
    const exp = m.properties?.messageExpiryInterval
    if (exp === undefined || this.clock.now() - (m.receivedAt ?? 0) < exp * 1000) return false
    if (this.tree.get(m.topic) === m && this.tree.delete(m.topic) && !m.topic.startsWith('$SYS/')) {
      this.op('delete', this.store.delete(m.topic))
    }
    return true
  }

  private op(what: string, p: Promise<void>): void {
    p.catch((err: unknown) => this.logger.error({ err: errorMessage(err) }, `retained store ${what} failed`))
  }
}

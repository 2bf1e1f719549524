import type { Logger } from '../core/logger.ts'
import type { SessionRecord, SessionStore, SubscriptionRecord } from '../core/persistence.ts'
import { errorMessage } from '../core/errors.ts'
import type { Session } from './session.ts'
import type { Subscription } from './types.ts'

/**
 * Writes session state through the SessionStore, one ordered chain per session (an update must not
 * overtake the add that assigned its id). Failures are logged; routing never waits for the store.
 */
export class Persistence {
  private readonly pending = new Set<Promise<void>>()

  constructor(
    readonly store: SessionStore,
    private readonly logger: Logger,
  ) {}

  run(s: Session, what: string, op: (store: SessionStore) => Promise<unknown>): void {
    const p: Promise<void> = s.storeChain.then(() => op(this.store)).then(
      () => undefined,
      (err: unknown) => this.logger.error({ clientId: s.clientId, err: errorMessage(err) }, `session store: ${what} failed`),
    )
    s.storeChain = p
    this.pending.add(p)
    void p.then(() => this.pending.delete(p))
  }

  saveSession(s: Session): void {
    const rec = sessionRecord(s)
    this.run(s, 'save session', (st) => st.saveSession(rec))
  }

  deleteSession(s: Session): void {
    this.run(s, 'delete session', (st) => st.deleteSession(s.clientId))
  }

  /** Resolves when every queued store operation has finished. */
  async flush(): Promise<void> {
    for (let i = 0; i < 100 && this.pending.size > 0; i++) await Promise.all([...this.pending])
  }
}

export function subscriptionRecord(sub: Subscription): SubscriptionRecord {
  const r: SubscriptionRecord = { filter: sub.raw, qos: sub.qos }
  if (sub.noLocal) r.noLocal = true
  if (sub.retainAsPublished) r.retainAsPublished = true
  if (sub.retainHandling !== 0) r.retainHandling = sub.retainHandling
  if (sub.subscriptionId !== undefined) r.subscriptionId = sub.subscriptionId
  return r
}

export function sessionRecord(s: Session): SessionRecord {
  return {
    clientId: s.clientId,
    protocolVersion: s.protocolVersion,
    expiryInterval: s.expiryInterval,
    subscriptions: [...s.subscriptions.values()].map(subscriptionRecord),
    disconnectedAt: s.disconnectedAt,
  }
}

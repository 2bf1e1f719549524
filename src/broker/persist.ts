import type { LogLimiter } from '../core/log-limit.ts'
import type { Message } from '../core/types.ts'
import type { SessionRecord, SessionStore, SubscriptionRecord } from '../core/persistence.ts'
import { errorMessage } from '../core/errors.ts'
import type { Delivery, Session } from './session.ts'
import type { Subscription } from './session.ts'

/**
 * Writes session state through the SessionStore. Every call is issued at once: the store applies
 * operations in call order (see SessionStore), so a burst of queued messages shares one group commit
 * and a delete lands after everything called before it. Only operations on one queued message wait,
 * for the add that assigns its store id. Failures are logged (one line per kind of operation, then a
 * count every 10 s: a full disk fails every write); the add's promise also rejects, so the publisher
 * is not acknowledged for a message that is not stored.
 */
export class Persistence {
  private readonly pending = new Set<Promise<void>>()

  constructor(
    readonly store: SessionStore,
    private readonly logs: LogLimiter,
  ) {}

  run(s: Session, what: string, op: (store: SessionStore) => Promise<unknown>): void {
    this.track(this.logged(s, what, this.start(op)))
  }

  /**
   * Store a message owed to `s` (with the QoS and retain flag it is delivered with). The promise
   * resolves once it is durable and rejects if it could not be stored (the failure is logged here).
   */
  add(s: Session, d: Delivery, stored: Message): Promise<void> {
    const durable = this.start(async (st) => {
      const [id] = await st.addOutgoing(s.clientId, [stored])
      d.storeId = id ?? null
    })
    const tail = this.logged(s, 'queue message', durable)
    d.storeTail = tail
    this.track(tail)
    return durable
  }

  /** Run `op` on a stored message once its add has assigned the id (at once for a restored message). */
  onStored(s: Session, d: Delivery, what: string, op: (store: SessionStore, id: bigint) => Promise<unknown>): void {
    const after = d.storeTail
    if (after === null) {
      const id = d.storeId
      if (id !== null) this.run(s, what, (st) => op(st, id))
      return
    }
    const tail = after.then(() => {
      const id = d.storeId
      if (id === null) return undefined // the add failed: nothing to change
      return this.logged(s, what, this.start((st) => op(st, id)))
    })
    d.storeTail = tail
    this.track(tail)
  }

  saveSession(s: Session): void {
    const rec = sessionRecord(s)
    this.run(s, 'save session', (st) => st.saveSession(rec))
  }

  deleteSession(s: Session): void {
    this.run(s, 'delete session', (st) => st.deleteSession(s.clientId))
  }

  /** Resolves when every store operation issued so far has finished. */
  async flush(): Promise<void> {
    for (let i = 0; i < 100 && this.pending.size > 0; i++) await Promise.all([...this.pending])
  }

  /** Calls `op` now; a synchronous throw becomes a rejection. */
  private start(op: (store: SessionStore) => Promise<unknown>): Promise<void> {
    try {
      return op(this.store).then(() => undefined)
    } catch (err) {
      return Promise.reject(err as Error)
    }
  }

  /** `p` with its failure logged; never rejects. */
  private logged(s: Session, what: string, p: Promise<void>): Promise<void> {
    return p.then(undefined, (err: unknown) => this.logs.log('error', `session-store:${what}`, { clientId: s.clientId, err: errorMessage(err) }, `session store: ${what} failed`))
  }

  private track(p: Promise<void>): void {
    this.pending.add(p)
    void p.then(() => this.pending.delete(p))
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

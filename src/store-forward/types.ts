import type { Clock, DurableQueue, Logger, Message } from '../core/index.ts'

export type BudgetPolicy = 'drop-oldest' | 'reject-new'

export interface QueueOptions {
  /** Logical bytes of queued entries (encoded message + 8-byte key) this queue may hold. */
  maxBytes: number
  /** Oldest entry age in ms the queue may hold; 0 = no age limit. */
  maxAge: number
  policy: BudgetPolicy
  /** ms an append waits for others to share its fsync (0 = next tick). */
  groupCommitWindow: number
  maxBatch: number
  clock: Clock
  logger: Logger
}

/** A DurableQueue that also reports the sequence numbers it assigned and can flush its pending batch. */
export interface SequencedQueue extends DurableQueue {
  /** Like append, resolving with the sequence numbers assigned (the forwarder acks live sends by them). */
  appendSeq(ms: Message[]): Promise<bigint[]>
  /** Resolves once everything appended or acked so far has been written (or failed). */
  flush(): Promise<void>
  /** The next peek starts again at the oldest entry still queued (a new consumer takes over). */
  rewind(): void
}

/** Size charged against the budget for one entry: its encoded value plus its 8-byte key. */
export function chargedSize(encodedLength: number): number {
  return encodedLength + 8
}

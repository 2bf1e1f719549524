import type { Meta } from './queue-budget.ts'

/** The durable queue's state machine (queue-state.ts) and its shell (level-queue.ts) talk in these. */

/** After a failed write with only acks left, try again this much later (no append may come to carry them). */
export const ACK_RETRY_MS = 1000

/**
 * Acks with no append to ride along wait this long to share a batch. A drain acks a few entries per
 * socket read; writing each few as its own batch cost ~45 µs of LevelDB and thread-pool work per batch
 * (a 100k drain wrote 1,200-3,400 batches, now ~300). The cost: after a kill -9, up to this long of
 * acks more are sent again (duplicates; an ack-only batch is not fsynced anyway).
 */
export const ACK_WINDOW_MS = 10

/** One message of an append, encoded, with its sequence once assigned. */
export interface Item {
  seq: bigint
  value: Buffer
  size: number
  qos: number
  /** When it was appended (ms), as encoded in the value. */
  at: number
}

/** An append call waiting for its batch: `id` is the ticket its caller waits on. */
export interface PendingAppend {
  id: number
  items: Item[]
}

/** The work of one batch: whole appends (at most maxBatch items), every ack pending, and the tickets of those acks. */
export interface Batch {
  appends: PendingAppend[]
  acks: bigint[]
  ackIds: number[]
}

/** Deletes beyond the acks, decided by the budget (drop-oldest) before the write. */
export interface Eviction {
  evicted: number
  bytesAfter: number
  droppedPuts: Set<bigint>
}

/** What one batch writes, computed before the write; applied to the state only once the write succeeded. */
export interface Plan {
  puts: Item[]
  dels: Map<bigint, number>
  meta: Meta
  /** QoS 1/2 puts need the write synced; QoS 0 and deletes may be lost in a power cut. */
  sync: boolean
}

/**
 * commit: the group-commit window. linger: the rest of the event-loop turn after a batch landed, so that
 * callers answering its acknowledgements join the next batch at once. retry: acks left by a failed write.
 * acks: the ack window (ACK_WINDOW_MS).
 */
export type QueueTimer = 'commit' | 'linger' | 'retry' | 'acks'

/** What the state machine asks its shell to do. */
export type QueueCommand =
  /** Write one batch, in turn with reads: `takeBatch()`, plan it, write it, then `committed()` + `finished()` or `failed()`. */
  | { t: 'write' }
  /** Arm a timer (ms 0: the next turn of the event loop) and call `timerFired(kind)` when it fires. */
  | { t: 'timer'; kind: QueueTimer; ms: number }
  | { t: 'clear'; kind: QueueTimer }
  /** These appends are on disk: resolve each with its sequences; these ack calls are done. */
  | { t: 'resolve'; appends: PendingAppend[]; ackIds: number[] }
  /** The batch holding these tickets failed: reject them with its error. */
  | { t: 'reject'; ids: number[] }
  /** No batch is being written any more (flush() waits for this). */
  | { t: 'idle' }

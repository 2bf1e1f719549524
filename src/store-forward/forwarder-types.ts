import type { Logger, QueueEntry } from '../core/index.ts'

/** The forwarder's state machine (forwarder-state.ts) and its shell (forwarder.ts) talk in these. */

export type ForwarderMode = 'backlog-first' | 'live-first'

export type TimerKind = 'pace' | 'retry' | 'settle'

/** What the state machine asks its shell to do. */
export type Command =
  | { t: 'send'; entry: QueueEntry; gen: number }
  | { t: 'read'; n: number }
  /** Call `fill()` once the current turn's events are in (one fill per burst of PUBACKs). */
  | { t: 'kick' }
  /** Call `takeAcks()` once the current turn's acknowledgements are in, and hand them to the queue. */
  | { t: 'flushAcks' }
  | { t: 'timer'; kind: TimerKind; ms: number }
  | { t: 'clear'; kind: TimerKind }

/** What the state machine reads from the world (no effects). */
export interface ForwarderEnv {
  now(): number
  /** The sink is connected. */
  online(): boolean
  /** Entries in the queue (appended and not acked). */
  queueDepth(): number
}

export interface ForwarderStateOptions {
  window: number
  replayRate: number
  mode: ForwarderMode
  maxLive: number
  settleTimeout: number
  logger: Logger
}

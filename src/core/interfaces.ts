import type { Message, Reading, Status } from './types.ts'

/** What the broker offers to in-process code (drivers via main, bridge downlink, store-forward). */
export interface LocalBroker {
  publish(m: Message): Promise<void>
  /**
   * Subscribe in-process. When the handler returns a promise, a QoS 1/2 publisher's acknowledgement
   * (PUBACK/PUBREC) waits for it; a rejection makes the broker refuse the publish (v5 reason code) or
   * disconnect a 3.1.1 publisher so it retries.
   */
  subscribe(filter: string, onMessage: (m: Message) => void | Promise<void>, opts?: InProcessSubscribeOptions): () => void
  status(): Status
  close(): Promise<void>
}

export interface InProcessSubscribeOptions {
  /** Do not deliver messages whose origin equals this value (loop prevention for the bridge). */
  noLocalOrigin?: string
  /** Maximum QoS delivered; defaults to 2. */
  qos?: 0 | 1 | 2
}

export interface Driver {
  readonly id: string
  start(emit: (r: Reading) => void, signal: AbortSignal): Promise<void>
  write?(point: string, value: unknown): Promise<void>
  stop(): Promise<void>
  status(): Status
}

export interface QueueEntry {
  seq: bigint
  message: Message
  /** ms since epoch when the entry was appended. */
  enqueuedAt: number
}

export interface QueueStats {
  depth: number
  bytes: number
  oldestEnqueuedAt: number | null
  appended: number
  acked: number
  dropped: number
  rejected: number
  lastError: string | null
}

export interface DurableQueue {
  /** Resolves once every message is durable (for QoS > 0) in FIFO order. */
  append(ms: Message[]): Promise<void>
  /** Oldest-first window starting after the last peeked position, without removing. */
  peek(n: number): Promise<QueueEntry[]>
  ack(seqs: bigint[]): Promise<void>
  stats(): QueueStats
  close(): Promise<void>
}

/** The uplink as store-forward sees it: resolves on the cloud's acknowledgement. */
export interface Sink {
  publish(m: Message): Promise<void>
  /** True while the sink can accept messages (connected). */
  readonly online: boolean
  /** Called when online becomes true; returns an unsubscribe function. */
  onOnline(cb: () => void): () => void
}

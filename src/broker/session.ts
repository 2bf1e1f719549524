import type { TimerHandle } from '../core/clock.ts'
import type { Message, Qos } from '../core/types.ts'
import type { ClientIdentity } from './hooks.ts'

/** A QoS 1/2 message owed to one session. */
export interface Delivery {
  message: Message
  qos: Qos
  retain: boolean
  subIds: number[] | null
  packetId: number
  state: 'queued' | 'sent' | 'released'
  /** Id assigned by the SessionStore once persisted; null for non-persistent sessions or before the store answered. */
  storeId: bigint | null
  /** The last store operation on this message while its add may still be pending; later ones chain on it. */
  storeTail: Promise<void> | null
  bytes: number
}

/** What a session needs from its live connection to send. Implemented by Connection. */
export interface SessionLink {
  /** Outbound in-flight window: min(client Receive Maximum, max_inflight). */
  readonly inflightMax: number
  readonly identity: ClientIdentity
  sendPublish(m: Message, qos: Qos, retain: boolean, packetId: number, dup: boolean, subIds: number[] | null): boolean
  sendPubrel(packetId: number): void
  disconnect(reasonCode: number, reason: string): void
}

export type LocalHandler = (m: Message) => void | Promise<void>

/** One subscription in the trie: a network session's or an in-process handler's. */
export interface Subscription {
  /** As subscribed, including a `$share/group/` prefix. */
  raw: string
  /** Without the share prefix. */
  filter: string
  share: string | undefined
  qos: Qos
  noLocal: boolean
  retainAsPublished: boolean
  retainHandling: 0 | 1 | 2
  subscriptionId: number | undefined
  session: Session | null
  local: LocalHandler | null
  noLocalOrigin: string | undefined
}

/** A will as CONNECT gave it: published when the connection ends abnormally, after `delay` seconds (v5). */
export interface WillSpec {
  message: Message
  delay: number
}

export interface PendingWill {
  message: Message
  timer: TimerHandle | null
}

const NONE: ReadonlyMap<number, Delivery> = new Map()
const NO_SUBS: ReadonlyMap<string, Subscription> = new Map()

/**
 * Session state only (subscriptions, queue, in-flight window, packet ids); no IO. delivery-state.ts
 * moves messages through it; delivery.ts runs what that decides.
 */
export class Session {
  protocolVersion: 3 | 4 | 5
  /** Seconds; 0 = ends with the connection; 0xFFFFFFFF = never expires. */
  expiryInterval: number
  /** Allocated on first SUBSCRIBE: publish-only sensors never need it. */
  private subscriptionMap: Map<string, Subscription> | null = null
  link: SessionLink | null = null
  /** Last identity seen, for delivery authorisation while offline. */
  identity: ClientIdentity | null = null
  queue: Delivery[] = []
  queuedBytes = 0
  /** Allocated on first use: most sessions are idle most of the time (memory per connection matters). */
  private inflightMap: Map<number, Delivery> | null = null
  /** Inbound QoS 2 packet ids awaiting PUBREL → the connection serial they arrived on (-1: restored). */
  incomingQos2: Map<number, number> | null = null
  /** Inbound QoS 2 ids whose PUBREC waits for in-process subscribers (a resend on a new connection waits too). */
  qos2Pending: Map<number, Promise<void>> | null = null
  disconnectedAt: number | null = null
  expiryTimer: TimerHandle | null = null
  will: PendingWill | null = null
  /** Whether a record of this session may exist in the store. */
  stored = false
  // Scratch used by the router to merge overlapping subscriptions without allocating.
  routeMark = 0
  routeQos: Qos = 0
  routeRetain = false
  routeSubIds: number[] | null = null
  private nextPacketId = 1

  constructor(
    readonly clientId: string,
    protocolVersion: 3 | 4 | 5,
    expiryInterval: number,
  ) {
    this.protocolVersion = protocolVersion
    this.expiryInterval = expiryInterval
  }

  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.subscriptionMap ?? NO_SUBS
  }

  setSubscription(sub: Subscription): void {
    ;(this.subscriptionMap ??= new Map()).set(sub.raw, sub)
  }

  deleteSubscription(raw: string): void {
    this.subscriptionMap?.delete(raw)
  }

  clearSubscriptions(): void {
    this.subscriptionMap = null
  }

  get inflight(): ReadonlyMap<number, Delivery> {
    return this.inflightMap ?? NONE
  }

  addInflight(d: Delivery): void {
    ;(this.inflightMap ??= new Map()).set(d.packetId, d)
  }

  removeInflight(packetId: number): void {
    const m = this.inflightMap
    if (m === null) return
    m.delete(packetId)
    if (m.size === 0) this.inflightMap = null
  }

  clearInflight(): void {
    this.inflightMap = null
  }

  /** The live connection's outbound window; 0 while offline. */
  get window(): number {
    const link = this.link
    return link === null ? 0 : link.inflightMax
  }

  get persistent(): boolean {
    return this.expiryInterval > 0
  }

  /** A packet id not used by any in-flight delivery. The window is ≤ 65535, so one is always free. */
  allocPacketId(): number {
    for (let i = 0; i < 65535; i++) {
      const id = this.nextPacketId
      this.nextPacketId = id === 65535 ? 1 : id + 1
      if (!this.inflight.has(id)) return id
    }
    throw new Error('no free packet id')
  }

  /** Reserve ids restored from a store so new ones do not collide. */
  notePacketId(id: number): void {
    if (id >= this.nextPacketId) this.nextPacketId = id === 65535 ? 1 : id + 1
  }

  enqueue(d: Delivery): void {
    this.queue.push(d)
    this.queuedBytes += d.bytes
  }

  dequeue(): Delivery | undefined {
    const d = this.queue.shift()
    if (d !== undefined) this.queuedBytes -= d.bytes
    return d
  }
}

export function messageBytes(m: Message): number {
  return m.payload.length + m.topic.length + 16
}

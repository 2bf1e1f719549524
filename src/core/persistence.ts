import type { Message, Qos } from './types.ts'

/**
 * What the broker needs to keep across restarts. The broker ships an in-memory implementation;
 * store-forward implements it on LevelDB. Both run the same conformance suite.
 */

export interface SubscriptionRecord {
  filter: string
  qos: Qos
  noLocal?: boolean
  retainAsPublished?: boolean
  retainHandling?: 0 | 1 | 2
  subscriptionId?: number
}

export interface SessionRecord {
  clientId: string
  protocolVersion: 3 | 4 | 5
  /** Seconds; 0xFFFFFFFF = never expires. */
  expiryInterval: number
  subscriptions: SubscriptionRecord[]
  /** ms since epoch when the client disconnected; null while connected. */
  disconnectedAt: number | null
}

/** A QoS 1/2 message owed to a client: queued (not yet sent), sent (awaiting PUBACK/PUBREC) or released (PUBREL sent, awaiting PUBCOMP). */
export interface StoredDelivery {
  id: bigint
  message: Message
  state: 'queued' | 'sent' | 'released'
  packetId?: number
}

export interface LoadedSession {
  session: SessionRecord
  outgoing: StoredDelivery[]
  /** Packet ids of inbound QoS 2 publishes whose PUBREC went out and whose PUBREL has not come yet. */
  incomingQos2: number[]
}

/**
 * Operations take effect in the order they are called, whether or not earlier ones have resolved:
 * the broker issues them without waiting (a delete lands after every add called before it, an add
 * called after a delete survives it). A resolved write is durable (LevelDB: fsynced).
 */
export interface SessionStore {
  loadAll(): Promise<LoadedSession[]>
  saveSession(s: SessionRecord): Promise<void>
  /** Removes the session and everything owed to it. */
  deleteSession(clientId: string): Promise<void>
  /** Appends in order; returns the ids assigned (monotonic per store, in call order). */
  addOutgoing(clientId: string, messages: Message[]): Promise<bigint[]>
  updateOutgoing(clientId: string, id: bigint, state: StoredDelivery['state'], packetId?: number): Promise<void>
  removeOutgoing(clientId: string, id: bigint): Promise<void>
  addIncomingQos2(clientId: string, packetId: number): Promise<void>
  removeIncomingQos2(clientId: string, packetId: number): Promise<void>
  close(): Promise<void>
}

export interface RetainedStore {
  loadAll(): Promise<Message[]>
  put(m: Message): Promise<void>
  delete(topic: string): Promise<void>
  close(): Promise<void>
}

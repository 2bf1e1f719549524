import type { Duplex } from 'node:stream'
import type { BrokerConfig, ListenerConfig } from '../config/index.ts'
import type { Clock } from '../core/clock.ts'
import type { InProcessSubscribeOptions, LocalBroker } from '../core/interfaces.ts'
import type { Logger } from '../core/logger.ts'
import type { RetainedStore, SessionStore } from '../core/persistence.ts'
import type { Message, Qos, Status } from '../core/types.ts'
import type { BrokerHooks, ClientIdentity, ConnectionInfo } from './hooks.ts'
import type { Session } from './session.ts'

export interface BrokerOptions {
  config: BrokerConfig
  logger: Logger
  gatewayId: string
  clock?: Clock
  /** Security hooks; defaults to `openHooks` (anonymous where the listener allows it, no ACL). */
  hooks?: BrokerHooks
  /** Persistent sessions; in memory when not given. The broker does not close injected stores. */
  sessions?: SessionStore
  /** Retained messages; in memory when not given. */
  retained?: RetainedStore
}

export interface ListeningOn {
  name: string
  protocol: string
  host: string
  port: number
}

export interface LocalSubscribeOptions extends InProcessSubscribeOptions {
  /** Deliver matching retained messages right after subscribing (default false: in-process consumers such as store-forward must not re-read them at every start). */
  retained?: boolean
}

export type LocalHandler = (m: Message) => void | Promise<void>

export interface Broker extends LocalBroker {
  /** Opens every listener in `config.listeners`; resolves with the bound addresses (port 0 → the real port). */
  listen(): Promise<ListeningOn[]>
  /**
   * Applies a new listener list (config reload): identical listeners keep their clients; changed or
   * removed ones close and their clients are disconnected (0x8B); new ones open. Resolves with the
   * names of the listeners closed or opened.
   */
  reconfigureListeners(next: ListenerConfig[]): Promise<string[]>
  /** Serve one MQTT byte stream (listeners call this; tests may pass any Duplex). */
  handleConnection(stream: Duplex, info: ConnectionInfo): void
  subscribe(filter: string, onMessage: LocalHandler, opts?: LocalSubscribeOptions): () => void
  /** Disconnects matching clients (v5: DISCONNECT with the reason code); returns how many. */
  disconnectWhere(pred: (who: ClientIdentity) => boolean, reasonCode: number, reason: string): number
  status(): Status
  close(): Promise<void>
}

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

import type { Duplex } from 'node:stream'
import type { Clock } from '../core/clock.ts'
import type { InProcessSubscribeOptions, LocalBroker } from '../core/interfaces.ts'
import type { Logger } from '../core/logger.ts'
import type { RetainedStore, SessionStore } from '../core/persistence.ts'
import type { Status } from '../core/types.ts'
import type { BrokerHooks, ClientIdentity, ConnectionInfo } from './hooks.ts'
import type { BrokerLimits, ListenerOptions } from './options.ts'
import type { LocalHandler } from './session.ts'

export type { BrokerLimits } from './options.ts'

export interface BrokerOptions {
  /** Opened by `listen()`. */
  listeners: ListenerOptions[]
  /** How often `$SYS` statistics are published, in ms; 0 turns them off. */
  sysInterval: number
  limits: BrokerLimits
  logger: Logger
  gatewayId: string
  /** Shown as `$SYS/broker/version` ("fieldgate <version>"); just "fieldgate" when not given. */
  version?: string
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

export interface Broker extends LocalBroker {
  /** Opens every listener in `listeners`; resolves with the bound addresses (port 0 → the real port). */
  listen(): Promise<ListeningOn[]>
  /**
   * Applies a new listener list (config reload): identical listeners keep their clients; changed or
   * removed ones close and their clients are disconnected (0x8B); new ones open. Resolves with the
   * names of the listeners closed or opened.
   */
  reconfigureListeners(next: ListenerOptions[]): Promise<string[]>
  /** Serve one MQTT byte stream (listeners call this; tests may pass any Duplex). */
  handleConnection(stream: Duplex, info: ConnectionInfo): void
  subscribe(filter: string, onMessage: LocalHandler, opts?: LocalSubscribeOptions): () => void
  /** Disconnects matching clients (v5: DISCONNECT with the reason code); returns how many. */
  disconnectWhere(pred: (who: ClientIdentity) => boolean, reasonCode: number, reason: string): number
  status(): Status
  close(): Promise<void>
}

export type { LocalHandler, Subscription } from './session.ts'
export type { LimitKind } from './stats.ts'

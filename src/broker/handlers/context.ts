import type { Packet } from 'mqtt-packet'
import type { Clock } from '../../core/clock.ts'
import type { Logger } from '../../core/logger.ts'
import type { Message, Qos } from '../../core/types.ts'
import type { DeliveryEngine, InboundLink, PubrelSender } from '../delivery.ts'
import type { BrokerHooks, ClientIdentity, ConnectionInfo } from '../hooks.ts'
import type { Persistence } from '../persist.ts'
import type { RetainedMessages } from '../retained-messages.ts'
import type { Session, WillSpec } from '../session.ts'
import type { SessionClient, SessionRegistry } from '../sessions.ts'
import type { Stats } from '../stats.ts'
import type { TopicLimits } from '../topics.ts'
import type { TopicTrie } from '../trie.ts'
import type { BrokerLimits } from '../types.ts'

/** What the packet handlers use of the broker: given to each connection, never the broker itself. */
export interface HandlerContext {
  readonly limits: BrokerLimits
  /** max_topic_length / max_topic_levels for client topics and filters. */
  readonly topicLimits: TopicLimits
  readonly hooks: BrokerHooks
  readonly stats: Pick<Stats, 'limit' | 'logs'>
  readonly logger: Logger
  readonly clock: Clock
  readonly delivery: Pick<DeliveryEngine, 'resume' | 'onPuback' | 'onPubrec' | 'onPubcomp' | 'inboundQos2State' | 'inboundQos2Add' | 'inboundQos2Done'>
  readonly sessions: Pick<SessionRegistry, 'attach'>
  readonly trie: Pick<TopicTrie, 'add' | 'remove'>
  readonly persistence: Pick<Persistence, 'saveSession'>
  readonly retained: Pick<RetainedMessages, 'match' | 'expired' | 'full'>
  /** Route a message that entered the broker; a promise holds the publisher's PUBACK/PUBREC until it settles. */
  ingest(m: Message): Promise<void> | undefined
  /** One subscriber's delivery, isolated: a throw costs that subscriber this message only. */
  deliver(s: Session, m: Message, qos: Qos, retain: boolean, subIds: number[] | null): Promise<void> | undefined
}

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'closed'

/** A client connection as its packet handlers see it. Implemented by Connection. */
export interface HandlerConnection extends SessionClient, InboundLink, PubrelSender {
  readonly ctx: HandlerContext
  readonly info: ConnectionInfo
  session: Session | null
  state: ConnectionState
  clientId: string
  protocolVersion: 3 | 4 | 5
  identity: ClientIdentity
  keepaliveMs: number
  will: WillSpec | null
  dropWill: boolean
  /** Client's Maximum Packet Size (v5); 0 = no limit. */
  maxPacketOut: number
  /** Outbound in-flight window: min(client Receive Maximum, max_inflight). */
  inflightMax: number
  aliasIn: Map<number, string> | null
  aliasOutMax: number
  /** Does this connection's PUBACK/PUBREC for `packetId` wait for in-process subscribers? */
  ackWaiting(cmd: 'puback' | 'pubrec', packetId: number): boolean
  send(p: Packet): void
  sendRaw(buf: Buffer): void
  sendAck(cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode?: number, reason?: string): void
  /** Acknowledge an inbound QoS 1/2 publish once `pending` settles, in arrival order. */
  acknowledge(cmd: 'puback' | 'pubrec', packetId: number, pending: Promise<void> | undefined): void
  protocolError(reason: string, code: number): void
  disconnect(reasonCode: number, reason: string): void
  end(): void
  pause(): void
  resume(): void
  /** Replays packets that arrived while CONNECT was being authenticated. */
  drainBacklog(): void
}

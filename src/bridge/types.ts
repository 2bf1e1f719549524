import type { IClientOptions } from 'mqtt'
import type { Clock, LocalBroker, Logger, Message, QueueStats, Sink, Status } from '../core/index.ts'
import type { ReadFile } from './options.ts'

export interface UplinkDeps {
  gatewayId: string
  logger: Logger
  clock?: Clock
  /** The local broker: downlink messages and `$SYS` health topics go here. */
  local?: LocalBroker
  /** For tests of credential handling. */
  readFile?: ReadFile
  /** Bound on the graceful part of stop() (offline message + DISCONNECT). */
  stopTimeout?: number
  /** The uplink's queue statistics, so status() and `$SYS` show backlog depth and oldest age. */
  queueStats?: () => QueueStats
  /** How often the `$SYS` health topics are refreshed besides state changes; default 5 s. */
  healthInterval?: number
  /** Packet id allocation per connection (tests force id reuse with it); MQTT.js's default otherwise. */
  messageIds?: () => NonNullable<IClientOptions['messageIdProvider']>
}

export interface Uplink extends Sink {
  readonly name: string
  /** Origin tag on messages this uplink publishes locally; subscribe forward filters with `noLocalOrigin` set to it. */
  readonly origin: string
  start(): void
  stop(): Promise<void>
  status(): Status
  outbound(m: Message, viaFilter?: string): Message | null
  forwardFilters(): string[]
}

import type { Clock, LocalBroker, Logger, Message, Sink, Status } from '../core/index.ts'
import { Forwarder, type ForwarderMode } from './forwarder.ts'
import type { SequencedQueue } from './types.ts'

/**
 * The uplink as the pipeline sees it: a `Sink` (publish resolves on the cloud's PUBACK/PUBCOMP) with
 * its forwarding rules. `bridge`'s `Uplink` has this shape; store-forward never imports the bridge.
 */
export interface UplinkPort extends Sink {
  /** Origin tag of messages the uplink published locally (downlink): they never go back up. */
  readonly origin: string
  /** The filters to subscribe in the broker, one per forward rule. */
  forwardFilters(): string[]
  /** The message as it goes to the cloud, or null when another rule owns it (or no topic could be made). */
  outbound(m: Message, viaFilter?: string): Message | null
  start(): void
  stop(): Promise<void>
  status(): Status
}

export interface PipelineOptions {
  /** Only the in-process subscription is used. */
  broker: Pick<LocalBroker, 'subscribe'>
  queue: SequencedQueue
  uplink: UplinkPort
  /** Sent and not yet acknowledged by the cloud: bounds duplicates after a reconnect (a crash adds acks not yet written). */
  window: number
  /** Messages/s when replaying a backlog; 0 = unlimited. */
  replayRate: number
  mode: ForwarderMode
  logger: Logger
  clock?: Clock
}

/**
 * One uplink's durable path, end to end. The core promise lives here: a QoS 1/2 message routed to an
 * uplink is acknowledged to its publisher only once the uplink's queue holds it durably, and leaves the
 * queue only when the cloud has acknowledged it.
 *
 *   1. filter: each forward filter is subscribed in the broker; a message is taken only by the first
 *      rule that matches it (`uplink.outbound`), so overlapping rules never queue it twice, and what
 *      came down from this uplink never goes back up (`noLocalOrigin`).
 *   2. durable append: `Forwarder.accept` appends to the queue (`LevelQueue`: group commit, one fsync
 *      per batch). QoS 0 goes straight to an online uplink with nothing queued, else to the queue unsynced.
 *   3. acknowledgement: the subscription handler returns accept's promise; the broker holds the
 *      publisher's PUBACK/PUBREC until it resolves and refuses the publish if it rejects (queue full,
 *      disk failing).
 *   4. forwarder: reads the queue in sequence order and keeps at most `window` in flight. In
 *      backlog-first (the default) every entry, live ones too, is read back from the queue after its
 *      durable write; live-first sends live entries from memory. Reading back is a measured choice:
 *      the forwarder reads up to window + read-ahead entries at once (30,000 live messages took 48-62
 *      reads in bench/bridge.ts `live`), and a variant that handed freshly written entries over from memory
 *      (a tail cache in LevelQueue) showed no gain beyond noise there (2.6k-8.0k msg/s with it,
 *      4.4k-5.0k without, load 12-13), so the simpler path stays: one source of order, the disk.
 *   5. uplink: `publish` resolves on the cloud's PUBACK/PUBCOMP and rejects when the link drops.
 *   6. cloud ack -> delete: the forwarder acks the entry; the queue deletes it in its next batch.
 *      After a failure the unacknowledged entries go again in order; after a crash the next start
 *      sends again from the oldest entry still on disk.
 */
export class UplinkPipeline {
  readonly forwarder: Forwarder
  private readonly broker: Pick<LocalBroker, 'subscribe'>
  private readonly queue: SequencedQueue
  private readonly uplink: UplinkPort
  private unsubscribes: Array<() => void> = []
  private started = false

  constructor(o: PipelineOptions) {
    this.broker = o.broker
    this.queue = o.queue
    this.uplink = o.uplink
    this.forwarder = new Forwarder({
      queue: o.queue,
      sink: o.uplink,
      window: o.window,
      replayRate: o.replayRate,
      mode: o.mode,
      logger: o.logger,
      ...(o.clock ? { clock: o.clock } : {}),
    })
  }

  /** Subscribes the forward filters: from now on matching messages are queued (QoS 1/2 acknowledged once durable). */
  attach(): void {
    if (this.unsubscribes.length > 0) return
    this.unsubscribes = this.uplink.forwardFilters().map((filter) =>
      this.broker.subscribe(
        filter,
        (m) => {
          const out = this.uplink.outbound(m, filter)
          // The returned promise is what makes the broker hold a QoS 1/2 PUBACK until the append is durable.
          return out ? this.forwarder.accept(out) : undefined
        },
        { noLocalOrigin: this.uplink.origin },
      ),
    )
  }

  /** Unsubscribes them; nothing new is queued for this uplink. */
  detach(): void {
    for (const u of this.unsubscribes) u()
    this.unsubscribes = []
  }

  start(): void {
    if (this.started) return
    this.started = true
    this.uplink.start()
    this.forwarder.start()
  }

  async stop(): Promise<void> {
    this.detach()
    // Hand pending acks to the queue and flush it before the uplink says goodbye; both are bounded.
    await this.forwarder.stop()
    await this.uplink.stop()
  }

  /** The uplink reports link health and backlog depth/age; the forwarder and the queue add what only they know. */
  status(): Status {
    const u = this.uplink.status()
    const f = this.forwarder.status()
    const q = this.queue.stats()
    const health = u.health === 'ok' && f.health !== 'ok' ? f.health : u.health
    const reason = u.reason ?? f.reason
    return {
      health,
      ...(reason === undefined ? {} : { reason }),
      details: { ...u.details, oldestEnqueuedAt: q.oldestEnqueuedAt, backlogBytes: q.bytes, dropped: q.dropped, rejected: q.rejected, forwarder: f.details },
    }
  }
}

import type { Broker } from '../broker/index.ts'
import { createUplink, type Uplink } from '../bridge/index.ts'
import type { UplinkConfig } from '../config/index.ts'
import type { Logger, Status } from '../core/index.ts'
import { Forwarder, type GatewayStore } from '../store-forward/index.ts'

/** One uplink wired end to end: broker subscriptions → durable queue → forwarder → MQTT uplink. Built detached. */
export interface UplinkUnit {
  readonly name: string
  readonly config: UplinkConfig
  /** Subscribes the forwarding filters: from now on matching messages are queued (and QoS 1/2 acknowledged once durable). */
  attach(): void
  /** Unsubscribes them; nothing new is queued for this uplink. */
  detach(): void
  start(): void
  stop(): Promise<void>
  status(): Status
}

export async function buildUplink(cfg: UplinkConfig, deps: { broker: Broker; store: GatewayStore; gatewayId: string; logger: Logger }): Promise<UplinkUnit> {
  const log = deps.logger.child({ module: 'bridge', uplink: cfg.name })
  const queue = await deps.store.openQueue(cfg.name)
  const uplink: Uplink = createUplink(cfg, { gatewayId: deps.gatewayId, logger: log, local: deps.broker, queueStats: () => queue.stats() })
  const forwarder = new Forwarder({ queue, sink: uplink, window: cfg.window, replayRate: cfg.replay_rate, mode: cfg.replay_mode, logger: log })
  let unsubscribes: Array<() => void> = []
  let started = false
  const detach = (): void => {
    for (const u of unsubscribes) u()
    unsubscribes = []
  }
  return {
    name: cfg.name,
    config: cfg,
    attach() {
      if (unsubscribes.length > 0) return
      // Each filter only takes the messages for which it is the first matching rule, so overlapping
      // rules never enqueue a message twice. The returned promise makes the broker hold a QoS 1/2
      // PUBACK until the queue has the message durably.
      unsubscribes = uplink.forwardFilters().map((filter) =>
        deps.broker.subscribe(
          filter,
          (m) => {
            const out = uplink.outbound(m, filter)
            return out ? forwarder.accept(out) : undefined
          },
          { noLocalOrigin: uplink.origin },
        ),
      )
    },
    detach,
    start() {
      if (started) return
      started = true
      uplink.start()
      forwarder.start()
    },
    async stop() {
      detach()
      // Flush what the forwarder holds before the uplink says goodbye; both are bounded.
      await forwarder.stop()
      await uplink.stop()
    },
    status() {
      // The uplink reports link health and backlog depth/age; the queue adds what only it knows.
      const u = uplink.status()
      const f = forwarder.status()
      const q = queue.stats()
      const health = u.health === 'ok' && f.health !== 'ok' ? f.health : u.health
      const reason = u.reason ?? f.reason
      return {
        health,
        ...(reason === undefined ? {} : { reason }),
        details: { ...u.details, oldestEnqueuedAt: q.oldestEnqueuedAt, backlogBytes: q.bytes, dropped: q.dropped, rejected: q.rejected, forwarder: f.details },
      }
    },
  }
}

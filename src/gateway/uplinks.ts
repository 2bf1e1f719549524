import type { Broker } from '../broker/index.ts'
import { createUplink } from '../bridge/index.ts'
import type { UplinkConfig } from '../config/index.ts'
import type { Logger, Status } from '../core/index.ts'
import { UplinkPipeline, type GatewayStore } from '../store-forward/index.ts'

/** One uplink wired: its queue, its MQTT connection and the pipeline between them (store-forward/pipeline.ts). Built detached. */
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
  const uplink = createUplink(cfg, { gatewayId: deps.gatewayId, logger: log, local: deps.broker, queueStats: () => queue.stats() })
  const pipeline = new UplinkPipeline({ broker: deps.broker, queue, uplink, window: cfg.window, replayRate: cfg.replay_rate, mode: cfg.replay_mode, logger: log })
  return {
    name: cfg.name,
    config: cfg,
    attach: () => pipeline.attach(),
    detach: () => pipeline.detach(),
    start: () => pipeline.start(),
    stop: () => pipeline.stop(),
    status: () => pipeline.status(),
  }
}

import type { Broker } from '../broker/index.ts'
import { createUplink } from '../bridge/index.ts'
import type { UplinkConfig } from '../config/index.ts'
import type { Logger, Status } from '../core/index.ts'
import { isManagementTopic } from '../fleet/index.ts'
import { UplinkPipeline, type GatewayStore, type UplinkPort } from '../store-forward/index.ts'
import { uplinkOptions } from './options/uplink.ts'

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
  const uplink = createUplink(uplinkOptions(cfg), { gatewayId: deps.gatewayId, logger: log, local: deps.broker, queueStats: () => queue.stats() })
  const pipeline = new UplinkPipeline({ broker: deps.broker, queue, uplink: guardManagement(uplink, log), window: cfg.window, replayRate: cfg.replay_rate, mode: cfg.replay_mode, logger: log })
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

/** Forward rules never publish into a management tree (docs/fleet.md, Security); such messages are dropped and logged. */
function guardManagement(uplink: UplinkPort, log: Logger): UplinkPort {
  let dropped = 0
  return {
    origin: uplink.origin,
    get online() {
      return uplink.online
    },
    onOnline: (cb) => uplink.onOnline(cb),
    forwardFilters: () => uplink.forwardFilters(),
    outbound(m, viaFilter) {
      const out = uplink.outbound(m, viaFilter)
      if (out === null || !isManagementTopic(out.topic)) return out
      // Logged on the 1st, 10th, 100th... so a flood cannot flood the log.
      if (Number.isInteger(Math.log10(++dropped))) log.warn({ topic: out.topic, dropped }, 'forwarded message would land in a fleet management topic; dropped')
      return null
    },
    publish: (m) => uplink.publish(m),
    start: () => uplink.start(),
    stop: () => uplink.stop(),
    status: () => uplink.status(),
  }
}

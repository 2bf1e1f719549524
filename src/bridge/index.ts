import type { Uplink, UplinkDeps } from './types.ts'
import type { UplinkOptions } from './uplink-options.ts'
import { MqttUplink } from './uplink.ts'

export type { Uplink, UplinkDeps } from './types.ts'
export type { UplinkOptions, UplinkTlsOptions, StatusMessage, ForwardRule, DownlinkRule } from './uplink-options.ts'
export type { LinkState } from './supervisor.ts'
export { MESSAGE_ID_PROPERTY, TIMESTAMP_PROPERTY, ForwardRules, DownlinkRules } from './rules.ts'
export { parseEnvelope, envelopePayload, type Envelope } from './envelope.ts'

/** Builds one uplink. Call start() to connect; it reconnects on its own until stop(). */
export function createUplink(cfg: UplinkOptions, deps: UplinkDeps): Uplink {
  return new MqttUplink(cfg, deps)
}

import type { IDisconnectPacket } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'

/**
 * DISCONNECT with reason 0x00 (always so in 3.1.1) discards the will [MQTT-3.1.2-10] [MQTT-3.14.4-3];
 * any other v5 reason, 0x04 included, leaves it to be published.
 */
export function handleDisconnect(c: HandlerConnection, p: IDisconnectPacket): void {
  const code = p.reasonCode ?? 0
  c.dropWill = code === 0
  const expiry = p.properties?.sessionExpiryInterval
  const s = c.session
  if (c.v5 && expiry !== undefined && s !== null) {
    // [MQTT-3.14.2-2] a session that started with expiry 0 may not become persistent at DISCONNECT
    if (s.expiryInterval === 0 && expiry > 0) return c.protocolError('session expiry set on DISCONNECT after 0 at CONNECT', 0x82)
    s.expiryInterval = Math.min(expiry, Math.floor(c.ctx.limits.maxSessionExpiry / 1000))
  }
  c.end()
}

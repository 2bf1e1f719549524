import type { IDisconnectPacket } from 'mqtt-packet'
import type { Connection } from '../connection.ts'

/** Normal DISCONNECT discards the will [MQTT-3.1.2-10]; v5 reason 0x04 asks for it to be sent. */
export function handleDisconnect(c: Connection, p: IDisconnectPacket): void {
  const code = p.reasonCode ?? 0
  c.dropWill = !(c.v5 && code === 0x04)
  const expiry = p.properties?.sessionExpiryInterval
  const s = c.session
  if (c.v5 && expiry !== undefined && s !== null) {
    // [MQTT-3.14.2-2] a session that started with expiry 0 may not become persistent at DISCONNECT
    if (s.expiryInterval === 0 && expiry > 0) return c.protocolError('session expiry set on DISCONNECT after 0 at CONNECT', 0x82)
    s.expiryInterval = Math.min(expiry, Math.floor(c.broker.config.limits.max_session_expiry / 1000))
  }
  c.end()
}

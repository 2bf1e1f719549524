import type { HandlerConnection } from './context.ts'

/** Enhanced authentication is not offered (CONNECT with an Authentication Method gets 0x8C), so AUTH is a protocol error. */
export function handleAuth(c: HandlerConnection): void {
  c.protocolError('AUTH without an authentication method in CONNECT', 0x82) // [MQTT-4.12.0-1]
}

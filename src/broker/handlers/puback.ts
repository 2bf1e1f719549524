import type { IPubackPacket } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'

/** QoS 1 delivery to this client is complete. */
export function handlePuback(c: HandlerConnection, p: IPubackPacket): void {
  if (c.session !== null && p.messageId !== undefined) c.ctx.delivery.onPuback(c.session, p.messageId)
}

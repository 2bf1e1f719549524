import type { IPubcompPacket } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'

/** QoS 2 delivery to this client is complete. */
export function handlePubcomp(c: HandlerConnection, p: IPubcompPacket): void {
  if (c.session !== null && p.messageId !== undefined) c.ctx.delivery.onPubcomp(c.session, p.messageId)
}

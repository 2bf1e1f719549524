import type { IPubrecPacket } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'

/** QoS 2, step 2 of outbound delivery: answer with PUBREL (or finish on a v5 error reason code). */
export function handlePubrec(c: HandlerConnection, p: IPubrecPacket): void {
  if (c.session !== null && p.messageId !== undefined) c.ctx.delivery.onPubrec(c, c.session, p.messageId, p.reasonCode ?? 0)
}

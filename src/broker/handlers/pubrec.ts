import type { IPubrecPacket } from 'mqtt-packet'
import type { Connection } from '../connection.ts'

/** QoS 2, step 2 of outbound delivery: answer with PUBREL (or finish on a v5 error reason code). */
export function handlePubrec(c: Connection, p: IPubrecPacket): void {
  if (c.session !== null && p.messageId !== undefined) c.broker.delivery.onPubrec(c, c.session, p.messageId, p.reasonCode ?? 0)
}

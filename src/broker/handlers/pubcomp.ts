import type { IPubcompPacket } from 'mqtt-packet'
import type { Connection } from '../connection.ts'

/** QoS 2 delivery to this client is complete. */
export function handlePubcomp(c: Connection, p: IPubcompPacket): void {
  if (c.session !== null && p.messageId !== undefined) c.broker.delivery.onPubcomp(c.session, p.messageId)
}

import type { IPubackPacket } from 'mqtt-packet'
import type { Connection } from '../connection.ts'

/** QoS 1 delivery to this client is complete. */
export function handlePuback(c: Connection, p: IPubackPacket): void {
  if (c.session !== null && p.messageId !== undefined) c.broker.delivery.onPuback(c.session, p.messageId)
}

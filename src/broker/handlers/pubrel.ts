import type { IPubrelPacket } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'

/** Inbound QoS 2, last step: release the packet id and answer PUBCOMP [MQTT-4.3.3-9]. */
export function handlePubrel(c: HandlerConnection, p: IPubrelPacket): void {
  const id = p.messageId
  if (id === undefined) return c.protocolError('PUBREL without packet identifier', 0x81)
  const known = c.ctx.delivery.inboundQos2Done(c, id)
  if (known || !c.v5) c.sendAck('pubcomp', id)
  else c.sendAck('pubcomp', id, 0x92, 'packet identifier not found')
}

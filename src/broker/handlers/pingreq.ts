import type { HandlerConnection } from './context.ts'
import { PINGRESP } from '../encode.ts'

export function handlePingreq(c: HandlerConnection): void {
  c.sendRaw(PINGRESP) // [MQTT-3.12.4-1]
}

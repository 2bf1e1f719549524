import type { Connection } from '../connection.ts'
import { PINGRESP } from '../encode.ts'

export function handlePingreq(c: Connection): void {
  c.sendRaw(PINGRESP) // [MQTT-3.12.4-1]
}

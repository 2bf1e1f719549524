import type { BatchTarget } from './writer.ts'

/**
 * Hand encoders for the hot acknowledgements (PUBACK/PUBREC/PUBREL/PUBCOMP with reason 0), written
 * straight into a writer's batch, and PINGRESP. PUBLISH is encoded by the wire toolkit shared with the
 * bridge (core/mqtt-wire).
 */

const ACK_TYPES = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const

/** A 4-byte acknowledgement (reason code 0 may be omitted in v5 [MQTT 5.0 §3.4.2.1]), written into the batch. */
export function appendAck(w: BatchTarget, cmd: keyof typeof ACK_TYPES, packetId: number): void {
  const at = w.reserve(4)
  const buf = w.area
  buf[at] = ACK_TYPES[cmd]
  buf[at + 1] = 2
  buf[at + 2] = packetId >> 8
  buf[at + 3] = packetId & 0xff
  w.commit(4)
}

export const PINGRESP = Buffer.from([0xd0, 0])

/**
 * Hand encoders for the hot acknowledgements (PUBACK/PUBREC/PUBREL/PUBCOMP with reason 0) and PINGRESP.
 * PUBLISH is encoded by the wire toolkit shared with the bridge (core/mqtt-wire).
 */

const ACK_TYPES = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const

/** A 4-byte acknowledgement (reason code 0 may be omitted in v5 [MQTT 5.0 §3.4.2.1]). */
export function encodeAck(cmd: keyof typeof ACK_TYPES, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4)
  buf[0] = ACK_TYPES[cmd]
  buf[1] = 2
  buf.writeUInt16BE(packetId, 2)
  return buf
}

export const PINGRESP = Buffer.from([0xd0, 0])

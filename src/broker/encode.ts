/**
 * Hand encoders for the hot packets (PUBLISH without properties, PUBACK/PUBREC/PUBREL/PUBCOMP with
 * reason 0). mqtt-packet's generate builds an emitter per call; these build one buffer.
 */

function varIntSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

function writeVarInt(buf: Buffer, pos: number, n: number): number {
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[pos++] = byte
  } while (n > 0)
  return pos
}

export function encodePublish(
  topic: string,
  payload: Buffer,
  qos: number,
  retain: boolean,
  dup: boolean,
  packetId: number,
  v5: boolean,
): Buffer {
  const topicLen = Buffer.byteLength(topic)
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + (v5 ? 1 : 0) + payload.length
  const buf = Buffer.allocUnsafe(1 + varIntSize(remaining) + remaining)
  buf[0] = 0x30 | (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0)
  let pos = writeVarInt(buf, 1, remaining)
  buf.writeUInt16BE(topicLen, pos)
  pos += 2
  pos += buf.write(topic, pos, 'utf8')
  if (qos > 0) {
    buf.writeUInt16BE(packetId, pos)
    pos += 2
  }
  if (v5) buf[pos++] = 0
  payload.copy(buf, pos)
  return buf
}

const ACK_TYPES = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const

/** A 4-byte acknowledgement (reason code 0 may be omitted in v5 [MQTT-3.4.2.1]). */
export function encodeAck(cmd: keyof typeof ACK_TYPES, packetId: number): Buffer {
  const buf = Buffer.allocUnsafe(4)
  buf[0] = ACK_TYPES[cmd]
  buf[1] = 2
  buf.writeUInt16BE(packetId, 2)
  return buf
}

export const PINGRESP = Buffer.from([0xd0, 0])

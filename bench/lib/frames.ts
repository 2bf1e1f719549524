/**
 * A minimal MQTT frame splitter for the load generator's hot path. mqtt-packet's parser builds an
 * object per packet; at 150k+ deliveries/s that would make the generator, not the broker, the
 * bottleneck, so deliveries are only split into frames here and the few fields needed are read by hand.
 */

/** Called per complete frame: packet type (high nibble), flags (low nibble), and the body bounds in `buf`. */
export type FrameHandler = (type: number, flags: number, buf: Buffer, start: number, end: number) => void

const MAX_FRAME = 1 << 20

export class FrameSplitter {
  private pending: Buffer | null = null

  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk])
      this.pending = null
    }
    let pos = 0
    const len = buf.length
    // Each iteration consumes one frame, so the loop is bounded by the chunk length.
    while (pos < len) {
      if (len - pos < 2) break
      const first = buf[pos] as number
      let remaining = 0
      let mult = 1
      let i = pos + 1
      let complete = false
      for (let n = 0; n < 4 && i < len; n++, i++) {
        const b = buf[i] as number
        remaining += (b & 0x7f) * mult
        mult *= 128
        if ((b & 0x80) === 0) {
          complete = true
          i++
          break
        }
      }
      if (!complete) break
      if (remaining > MAX_FRAME) throw new Error(`bench frame splitter: frame of ${remaining} bytes exceeds ${MAX_FRAME}`)
      const end = i + remaining
      if (end > len) break
      this.onFrame(first >> 4, first & 0x0f, buf, i, end)
      pos = end
    }
    if (pos < len) this.pending = buf.subarray(pos)
  }
}

/** Packet types used by the harness (MQTT 3.1.1 section 2.2.1). */
export const PT = {
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBACK: 9,
  PINGRESP: 13,
} as const

/** Packet id of a PUBLISH body with QoS > 0: it follows the topic name [MQTT-3.3.2]. */
export function publishPacketId(buf: Buffer, start: number): number {
  const topicLen = buf.readUInt16BE(start)
  return buf.readUInt16BE(start + 2 + topicLen)
}

/** Offset of the payload inside a PUBLISH body. */
export function publishPayloadStart(buf: Buffer, start: number, qos: number): number {
  const topicLen = buf.readUInt16BE(start)
  return start + 2 + topicLen + (qos > 0 ? 2 : 0)
}

/** A PUBACK for `id`: fixed header 0x40, remaining length 2 [MQTT-3.4]. */
export function writePuback(out: Buffer, offset: number, id: number): void {
  out[offset] = 0x40
  out[offset + 1] = 2
  out.writeUInt16BE(id, offset + 2)
}

/** The largest Variable Byte Integer, four bytes [MQTT 5.0 §1.5.5]: a Remaining Length or property length limit. */
export const VARINT_MAX = 268_435_455

/** Bytes of `n` as a Variable Byte Integer [MQTT 5.0 §1.5.5] (`n` within 0..VARINT_MAX). */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

/** Writes `n` as a Variable Byte Integer: 7 bits per byte, high bit = more follows. Returns the next offset. */
export function writeVarint(buf: Buffer, at: number, n: number): number {
  let pos = at
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    buf[pos++] = byte
  } while (n > 0)
  return pos
}

/** A whole packet's size from its Remaining Length: fixed header byte, length bytes and the rest [MQTT 5.0 §2.1]. */
export function packetSize(remaining: number): number {
  return 1 + varintSize(remaining) + remaining
}

/** Hand-built MQTT packets for tests that need bytes MQTT.js would never send. */

export function varInt(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

export function str(s: string): Buffer {
  const b = Buffer.from(s)
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

/** A property section: its length, then the raw property bytes as given (possibly malformed). */
export function props(raw: number[] | Buffer): Buffer {
  const b = Buffer.from(raw)
  return Buffer.concat([varInt(b.length), b])
}

export function frame(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first]), varInt(body.length), body])
}

export interface RawConnect {
  clientId: string
  v5: boolean
  clean?: boolean
  keepalive?: number
  /** raw v5 CONNECT property bytes */
  props?: number[]
  will?: { topic: string; payload: string; qos: 0 | 1 | 2; props?: number[] }
}

export function connectBytes(o: RawConnect): Buffer {
  let flags = o.clean === false ? 0 : 0x02
  if (o.will) flags |= 0x04 | (o.will.qos << 3)
  const parts = [str('MQTT'), Buffer.from([o.v5 ? 5 : 4, flags, 0, o.keepalive ?? 30])]
  if (o.v5) parts.push(props(o.props ?? []))
  parts.push(str(o.clientId))
  if (o.will) {
    if (o.v5) parts.push(props(o.will.props ?? []))
    parts.push(str(o.will.topic), str(o.will.payload))
  }
  return frame(0x10, Buffer.concat(parts))
}

export function publishBytes(o: { topic: string; payload: string; qos: 0 | 1 | 2; id?: number; v5: boolean; props?: number[] }): Buffer {
  const parts = [str(o.topic)]
  if (o.qos > 0) parts.push(Buffer.from([(o.id ?? 1) >> 8, (o.id ?? 1) & 0xff]))
  if (o.v5) parts.push(props(o.props ?? []))
  parts.push(Buffer.from(o.payload))
  return frame(0x30 | (o.qos << 1), Buffer.concat(parts))
}

/** Content Type (0x03) declaring 255 bytes with none after it: the packet that crashed the gateway. */
export const CONTENT_TYPE_PAST_END = [0x03, 0x00, 0xff]

/** Reason code of the first v5 DISCONNECT in `bytes` (after CONNACK etc.), or null. */
export function disconnectReason(bytes: Buffer): number | null {
  let pos = 0
  while (pos < bytes.length) {
    const type = (bytes[pos] as number) >> 4
    let len = 0
    let mul = 1
    let i = pos + 1
    for (; i < bytes.length; i++) {
      const b = bytes[i] as number
      len += (b & 0x7f) * mul
      mul *= 128
      if ((b & 0x80) === 0) break
    }
    const body = i + 1
    if (type === 14) return len === 0 ? 0 : (bytes[body] ?? null)
    pos = body + len
  }
  return null
}

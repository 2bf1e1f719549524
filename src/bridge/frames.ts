import type { MqttClient, Packet } from 'mqtt'
import type { PublishProperties } from '../core/index.ts'

/** Settles one publish: null on PUBACK (QoS 1) or once written (QoS 0), an Error when refused. */
export type PublishDone = (err: Error | null) => void

interface Writable {
  write(chunk: Buffer): boolean
  destroyed?: boolean
  writable?: boolean
}

/**
 * The forwarder's QoS 0/1 publishes (with their v5 properties), written as pre-encoded PUBLISH frames on the
 * MQTT.js connection's stream; MQTT.js keeps the connection (CONNECT, TLS, will, keep-alive, subscribe,
 * QoS 2, properties). Measured (bench/bridge.ts): MQTT.js spends per publish a deep copy of the packet
 * (payload included), ~15 debug calls, an outgoing-store entry and ~6 stream writes; a backlog drain
 * with it used more CPU than the upstream broker. Here a publish is one Buffer, and all publishes of one
 * event-loop turn leave in one write.
 *
 * Packet ids come from the connection's own MQTT.js id provider, so they never collide with the ids
 * MQTT.js uses for its own packets. A PUBACK for an id we sent settles it; MQTT.js ignores acks for ids
 * it does not know. When the connection drops the owner rejects everything still waiting: this object
 * belongs to one connection only.
 */
export class FramePublisher {
  private frames: Buffer[] = []
  private bytes = 0
  private written: PublishDone[] = []
  private readonly acks = new Map<number, PublishDone>()
  private scheduled = false
  private closed = false

  constructor(
    private readonly client: MqttClient,
    private readonly v5: boolean,
  ) {
    client.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'puback' && typeof p.messageId === 'number') this.onPuback(p.messageId, p.reasonCode)
    })
  }

  /** QoS 1 publishes waiting for PUBACK. */
  get waiting(): number {
    return this.acks.size
  }

  /** Queues one publish for this turn's write; false when it must go through MQTT.js instead. */
  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean, props: PublishProperties | undefined, done: PublishDone): boolean {
    if (this.closed || topic.length === 0) return false
    let id = 0
    if (qos === 1) {
      const got = this.client.messageIdProvider.allocate()
      if (got === null) return false // all ids taken: MQTT.js queues it until one is free
      if (this.acks.has(got)) {
        // An id still waiting here: give it back and let MQTT.js decide (never two publishes on one id).
        this.client.messageIdProvider.deallocate(got)
        return false
      }
      id = got
      this.acks.set(id, done)
    } else {
      this.written.push(done)
    }
    const frame = encodePublish(topic, payload, qos, retain, id, this.v5 ? (props ?? {}) : null)
    this.frames.push(frame)
    this.bytes += frame.length
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    return true
  }

  /** Writes the frames queued so far (the owner calls it before publishing through MQTT.js, to keep order). */
  flush(): void {
    this.scheduled = false
    if (this.frames.length === 0) return
    const frames = this.frames
    const bytes = this.bytes
    const written = this.written
    this.frames = []
    this.bytes = 0
    this.written = []
    const stream = this.client.stream as unknown as Writable
    if (this.closed || stream.destroyed === true || stream.writable === false) return // the owner rejects them on close
    stream.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes))
    for (const done of written) done(null)
  }

  /** The connection is gone: nothing more is written; the owner rejects what was waiting. */
  close(): void {
    this.closed = true
    this.frames = []
    this.written = []
    this.acks.clear()
  }

  private onPuback(id: number, reasonCode: number | undefined): void {
    const done = this.acks.get(id)
    if (!done) return
    this.acks.delete(id)
    this.client.messageIdProvider.deallocate(id)
    // MQTT 5: a reason code of 0x80 or more refuses the publish [MQTT-3.4.2.1]; 3.1.1 PUBACKs have none.
    if (reasonCode !== undefined && reasonCode >= 0x80) done(new Error(`PUBACK reason code 0x${reasonCode.toString(16)}`))
    else done(null)
  }
}

/**
 * One PUBLISH packet [MQTT-3.3]: fixed header, topic, packet id (QoS > 0), properties (MQTT 5: `props`
 * non-null; 3.1.1: null), payload.
 */
export function encodePublish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean, id: number, props: PublishProperties | null): Buffer {
  const topicLen = Buffer.byteLength(topic, 'utf8')
  const propBytes = props ? encodeProperties(props) : null
  const propLen = propBytes ? varintSize(propBytes.length) + propBytes.length : 0
  const remaining = 2 + topicLen + (qos > 0 ? 2 : 0) + propLen + payload.length
  const out = Buffer.allocUnsafe(1 + varintSize(remaining) + remaining)
  out[0] = 0x30 | (qos << 1) | (retain ? 1 : 0)
  let o = writeVarint(out, 1, remaining)
  out.writeUInt16BE(topicLen, o)
  o += 2
  o += out.write(topic, o, 'utf8')
  if (qos > 0) {
    out.writeUInt16BE(id, o)
    o += 2
  }
  if (propBytes) {
    o = writeVarint(out, o, propBytes.length)
    o += propBytes.copy(out, o)
  }
  payload.copy(out, o)
  return out
}

/** PUBLISH properties [MQTT-3.3.2.3]: identifier byte, then the value in its type's encoding. */
function encodeProperties(p: PublishProperties): Buffer {
  const parts: Buffer[] = []
  if (p.payloadFormatIndicator !== undefined) parts.push(Buffer.from([0x01, p.payloadFormatIndicator ? 1 : 0]))
  if (p.messageExpiryInterval !== undefined) {
    const b = Buffer.allocUnsafe(5)
    b[0] = 0x02
    b.writeUInt32BE(p.messageExpiryInterval, 1)
    parts.push(b)
  }
  if (p.contentType !== undefined) parts.push(Buffer.from([0x03]), lengthPrefixed(Buffer.from(p.contentType, 'utf8')))
  if (p.responseTopic !== undefined) parts.push(Buffer.from([0x08]), lengthPrefixed(Buffer.from(p.responseTopic, 'utf8')))
  if (p.correlationData !== undefined) parts.push(Buffer.from([0x09]), lengthPrefixed(p.correlationData))
  for (const [k, v] of Object.entries(p.userProperties ?? {})) {
    for (const value of Array.isArray(v) ? v : [v]) {
      parts.push(Buffer.from([0x26]), lengthPrefixed(Buffer.from(k, 'utf8')), lengthPrefixed(Buffer.from(value, 'utf8')))
    }
  }
  return Buffer.concat(parts)
}

function lengthPrefixed(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + b.length)
  out.writeUInt16BE(b.length, 0)
  b.copy(out, 2)
  return out
}

function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4
}

/** Variable byte integer: 7 bits per byte, high bit = more follows [MQTT-1.5.5]. Returns the next offset. */
function writeVarint(out: Buffer, at: number, n: number): number {
  let o = at
  for (let x = n; ; ) {
    const digit = x % 128
    x = Math.floor(x / 128)
    out[o++] = x > 0 ? digit | 0x80 : digit
    if (x === 0) return o
  }
}

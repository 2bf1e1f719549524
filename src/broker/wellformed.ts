import { Bad, properties, Reader } from './wire-reader.ts'

/**
 * Structural check of one complete client packet before mqtt-packet decodes it. mqtt-packet does not
 * check every length against the packet: a string or property that runs past its packet decodes as
 * null or takes bytes of the next packet (a v5 Content Type `03 00 FF` became `contentType: null`,
 * which later threw in the encoder). Here every length-prefixed field, every property and every fixed
 * size is checked against the packet's Remaining Length, so mqtt-packet only ever sees well-formed
 * structure. Returns null when well formed, else the reason code and why.
 */

/** A bad packet: 0x81 Malformed Packet or 0x82 Protocol Error; the client id when CONNECT got that far. */
export interface WireProblem {
  reasonCode: 0x81 | 0x82
  reason: string
  clientId?: string
}

function connect(r: Reader): WireProblem | null {
  // Name and level problems have their own answers (CONNACK 0x01): left to mqtt-packet and the handler.
  if (r.end < 2) return null
  const nameLen = r.buf.readUInt16BE(0)
  if (2 + nameLen + 4 > r.end) return null
  const level = r.buf[2 + nameLen] as number
  if (level !== 3 && level !== 4 && level !== 5 && level !== 0x83 && level !== 0x84) return null
  r.pos = 2 + nameLen + 1
  const flags = r.byte('connect flags')
  if ((flags & 0x04) !== 0 && (flags & 0x18) === 0x18) throw new Bad(0x81, 'will QoS 3') // [MQTT-3.1.2-14]
  r.u16('keep alive')
  const v5 = level === 5
  if (v5) properties(r, 'connect', 'CONNECT')
  const [idStart, idEnd] = r.string('client identifier')
  const clientId = r.buf.toString('utf8', idStart, idEnd)
  try {
    if ((flags & 0x04) !== 0) {
      if (v5) properties(r, 'will', 'will')
      r.string('will topic')
      r.binary('will payload')
    }
    if ((flags & 0x80) !== 0) r.string('user name')
    if ((flags & 0x40) !== 0) r.binary('password')
    r.done('CONNECT payload')
  } catch (err) {
    if (err instanceof Bad) return { reasonCode: err.reasonCode, reason: err.message, clientId }
    throw err
  }
  return null
}

function publish(r: Reader, qos: number, v5: boolean): void {
  r.binary('topic name') // its UTF-8 is checked by the handler, with the alias resolved
  if (qos > 0) r.u16('packet identifier')
  if (v5) properties(r, 'publish', 'PUBLISH')
  // the rest is the payload
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. 3.1.1: exactly a packet identifier [MQTT 5.0 §3.4.2, §3.5.2, §3.6.2, §3.7.2]. */
function ack(r: Reader, cmd: string, v5: boolean): void {
  r.u16(`${cmd} packet identifier`)
  if (v5 && r.pos < r.end) {
    r.byte(`${cmd} reason code`)
    if (r.pos < r.end) properties(r, 'ack', cmd)
  }
  r.done(cmd)
}

function subscribe(r: Reader, v5: boolean): void {
  r.u16('SUBSCRIBE packet identifier')
  if (v5) properties(r, 'subscribe', 'SUBSCRIBE')
  if (r.pos === r.end) throw new Bad(0x82, 'SUBSCRIBE without a topic filter') // [MQTT-3.8.3-3]
  while (r.pos < r.end) {
    r.string('topic filter')
    r.byte('subscription options')
  }
}

function unsubscribe(r: Reader, v5: boolean): void {
  r.u16('UNSUBSCRIBE packet identifier')
  if (v5) properties(r, 'unsubscribe', 'UNSUBSCRIBE')
  if (r.pos === r.end) throw new Bad(0x82, 'UNSUBSCRIBE without a topic filter') // [MQTT-3.10.3-2]
  while (r.pos < r.end) r.string('topic filter')
}

/** DISCONNECT and AUTH (v5): nothing, a reason code, or a reason code and properties. */
function reasonAndProps(r: Reader, set: 'disconnect' | 'auth', cmd: string): void {
  if (r.pos < r.end) {
    r.byte(`${cmd} reason code`)
    if (r.pos < r.end) properties(r, set, cmd)
  }
  r.done(cmd)
}

/**
 * `buf[0..length)` is one whole packet after its fixed header; `cmd` and `qos` come from the fixed
 * header, `v5` from the connection (CONNECT reads its own level).
 */
export function checkPacket(cmd: string, qos: number, v5: boolean, buf: Buffer, length: number): WireProblem | null {
  const r = new Reader(buf, length)
  try {
    switch (cmd) {
      case 'connect':
        return connect(r)
      case 'publish':
        publish(r, qos, v5)
        return null
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        ack(r, cmd.toUpperCase(), v5)
        return null
      case 'subscribe':
        subscribe(r, v5)
        return null
      case 'unsubscribe':
        unsubscribe(r, v5)
        return null
      case 'pingreq':
        r.done('PINGREQ') // [MQTT 5.0 §3.12.1] no variable header, no payload
        return null
      case 'disconnect':
        if (v5) reasonAndProps(r, 'disconnect', 'DISCONNECT')
        else r.done('DISCONNECT')
        return null
      case 'auth':
        if (v5) reasonAndProps(r, 'auth', 'AUTH')
        return null
      case 'connack':
      case 'suback':
      case 'unsuback':
      case 'pingresp':
        // refused before mqtt-packet reads them (it read a SUBACK's packet id from the next packet)
        throw new Bad(0x82, `a client may not send ${cmd.toUpperCase()}`)
      default:
        return null // AUTH in 3.1.1 and reserved types: mqtt-packet refuses them
    }
  } catch (err) {
    if (err instanceof Bad) return { reasonCode: err.reasonCode, reason: err.message }
    throw err
  }
}

/** Random access to bytes (a Buffer or mqtt-packet's BufferList). */
export interface ByteSource {
  readUInt8(offset: number): number
  readUInt16BE(offset: number): number
}

/** How many leading bytes of a PUBLISH `checkPacket` reads: topic, id and properties, not the payload. */
export function publishHeaderBytes(src: ByteSource, length: number, qos: number, v5: boolean): number {
  if (length < 2) return length
  let n = 2 + src.readUInt16BE(0) + (qos > 0 ? 2 : 0)
  if (!v5 || n >= length) return Math.min(n, length)
  // properties length: a variable byte integer of up to 4 bytes, then that many bytes
  let value = 0
  let mul = 1
  for (let i = 0; i < 4 && n < length; i++) {
    const b = src.readUInt8(n++)
    value += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return Math.min(n + value, length)
    mul *= 128
  }
  return length
}

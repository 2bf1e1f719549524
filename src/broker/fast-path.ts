import type { IPingreqPacket, IPubackPacket, IPubcompPacket, IPublishPacket, IPubrecPacket, IPubrelPacket, Packet } from 'mqtt-packet'

/**
 * Decoding of the hot packets straight from a socket chunk: PUBLISH (QoS 0-2, no v5 properties),
 * PUBACK/PUBREC/PUBREL/PUBCOMP of exactly a packet identifier, PINGREQ. It only takes packets that the
 * wire check (wellformed.ts) accepts and decodes them into what mqtt-packet would emit; anything else
 * (v5 properties, reason codes, odd header flags, and every malformed packet) returns null and goes to
 * mqtt-packet with the wire check, so refusals keep their exact reasons and codes. Property-tested
 * against `decodePackets` byte for byte (test/broker/fast-path.test.ts).
 */

type Hot = IPublishPacket | IPubackPacket | IPubrecPacket | IPubrelPacket | IPubcompPacket | IPingreqPacket

/**
 * `buf[at .. at + length)` is one whole packet after its fixed header, whose first byte is `first`.
 * Returns the packet as mqtt-packet decodes it, or null to leave it to mqtt-packet.
 */
export function decodeHot(first: number, buf: Buffer, at: number, length: number, v5: boolean): Packet | null {
  const type = first >> 4
  if (type === 3) return publish(first, buf, at, length, v5)
  // acknowledgements: fixed header flags as required [MQTT-2.2.2-1], exactly a packet id (v5: reason 0 omitted)
  if (length === 2 && (first === 0x40 || first === 0x50 || first === 0x62 || first === 0x70)) {
    const messageId = ((buf[at] as number) << 8) | (buf[at + 1] as number)
    const cmd = first === 0x40 ? 'puback' : first === 0x50 ? 'pubrec' : first === 0x62 ? 'pubrel' : 'pubcomp'
    const qos = first === 0x62 ? 1 : 0
    // whole literals (no property added later, which would allocate a property store); v5: mqtt-packet sets reasonCode 0 when omitted
    if (v5) return { cmd, retain: false, qos, dup: false, length: 2, topic: null, payload: null, messageId, reasonCode: 0 } as Hot
    return { cmd, retain: false, qos, dup: false, length: 2, topic: null, payload: null, messageId } as Hot
  }
  if (first === 0xc0 && length === 0) return { cmd: 'pingreq', retain: false, qos: 0, dup: false, length: 0, topic: null, payload: null } as Hot
  return null
}

function publish(first: number, buf: Buffer, at: number, length: number, v5: boolean): Packet | null {
  const qos = (first >> 1) & 3
  if (qos === 3 || length < 2) return null
  const end = at + length
  const topicEnd = at + 2 + (((buf[at] as number) << 8) | (buf[at + 1] as number))
  let pos = topicEnd + (qos > 0 ? 2 : 0)
  if (pos > end) return null
  if (v5) {
    // only an empty property section (length byte 0); properties are mqtt-packet's
    if (pos >= end || buf[pos] !== 0) return null
    pos++
  }
  const retain = (first & 1) !== 0
  const dup = (first & 8) !== 0
  const topic = buf.toString('utf8', at + 2, topicEnd)
  const payload = buf.subarray(pos, end)
  if (qos === 0) return { cmd: 'publish', retain, qos, dup, length, topic, payload } as IPublishPacket
  const messageId = ((buf[topicEnd] as number) << 8) | (buf[topicEnd + 1] as number)
  return { cmd: 'publish', retain, qos, dup, length, topic, payload, messageId } as IPublishPacket
}

import type { MqttClient } from 'mqtt'

/**
 * Every use of MQTT.js (5.x) beyond its documented client API, in one place. Each is a measured or
 * spec-driven choice made by the file named beside it; re-check all of them when upgrading MQTT.js.
 *
 * - Writes on `client.stream` (frames.ts): QoS 0/1 publishes leave as pre-encoded PUBLISH frames that
 *   MQTT.js never sees. A backlog drain through `client.publish` cost more CPU than the upstream broker
 *   (a deep copy of each packet, ~15 debug calls, an outgoing-store entry, ~6 stream writes; bench/bridge.ts).
 *   This works because MQTT.js's parser still raises `packetreceive` for the PUBACKs, and its ack handler
 *   ignores ids it has no outgoing entry for ("Server sent an ack in error. Ignoring.").
 * - Packet ids for those frames from `client.messageIdProvider` (frames.ts): the provider is public, but
 *   taking ids from it for packets MQTT.js does not track relies on it never handing out an id twice
 *   while allocated, so our ids and MQTT.js's own never collide on one connection.
 * - cork/uncork and setNoDelay on `client.stream` (uplink): publishes of one event-loop turn leave in
 *   one write; Nagle would hold small messages up to 40 ms.
 * - `_sendPacket` for a bare PUBREL (qos2.ts): after a reconnect with a resumed session, QoS 2 exchanges
 *   the previous connection left open are released [MQTT-4.4.0-1]; MQTT.js has no public way to send one.
 */

interface ClientStream {
  write(chunk: Buffer): boolean
  destroyed?: boolean
  writable?: boolean
  cork?: () => void
  uncork?: () => void
  setNoDelay?: (on: boolean) => void
}

type PubrelSend = (packet: { cmd: 'pubrel'; messageId: number }, cb?: () => void) => void

function streamOf(client: MqttClient): ClientStream {
  return client.stream as unknown as ClientStream
}

/** Writes bytes on the connection past MQTT.js; false (nothing written) when the stream is closed. */
export function writeFrames(client: MqttClient, bytes: Buffer): boolean {
  const s = streamOf(client)
  if (s.destroyed === true || s.writable === false) return false
  s.write(bytes)
  return true
}

/** A packet id MQTT.js will not use until `releaseId`; null when all are taken. */
export function allocateId(client: MqttClient): number | null {
  return client.messageIdProvider.allocate()
}

export function releaseId(client: MqttClient, id: number): void {
  client.messageIdProvider.deallocate(id)
}

const corked = new WeakSet<ClientStream>()

/** Holds the connection's writes until the next turn of the event loop, then sends them in one write. */
export function corkForThisTurn(client: MqttClient): void {
  const s = streamOf(client)
  if (corked.has(s) || !s.cork || !s.uncork) return
  s.cork()
  corked.add(s)
  setImmediate(() => {
    corked.delete(s)
    s.uncork?.()
  })
}

/** Turns Nagle's algorithm off on the connection's socket (no-op on a stream without it, e.g. WebSocket). */
export function noDelay(client: MqttClient): void {
  streamOf(client).setNoDelay?.(true)
}

/** Sends PUBREL for `id` without an outgoing-store entry; null when this MQTT.js cannot. */
export function pubrelSender(client: MqttClient): ((id: number) => void) | null {
  const send = (client as unknown as { _sendPacket?: PubrelSend })._sendPacket
  if (typeof send !== 'function') return null
  return (id) => send.call(client, { cmd: 'pubrel', messageId: id })
}

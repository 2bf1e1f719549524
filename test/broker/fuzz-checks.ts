/** The checks behind the property tests and bench/fuzz.ts: pure decode/re-encode, and one client session on a socket. */
import { connect as netConnect } from 'node:net'
import { generate, type IConnectPacket, type IPublishPacket, type Packet } from 'mqtt-packet'
import { FieldgateError, errorMessage } from '../../src/core/errors.ts'
import type { Message } from '../../src/core/types.ts'
import { encodeOutgoing } from '../../src/broker/outbound.ts'
import { decodePackets } from '../../src/broker/parsers.ts'
import { publishProperties } from '../../src/broker/props.ts'
import type { Level, SessionSpec } from './mqtt-arbitraries.ts'

export interface DecodeOutcome {
  packets: number
  /** reason code of the refusal, or null when everything decoded */
  refused: number | null
}

/**
 * Decodes `bytes` as a connection at level `v` does. Throws (failing the property) unless every
 * decoded packet re-encodes without throwing (as the broker would forward it: the PUBLISH or will as
 * an outgoing v5 and 3.1.1 PUBLISH, anything else through mqtt-packet's generate) and any refusal is
 * a coded error with reason code 0x81 or 0x82.
 */
export function decodeAndReencode(bytes: Buffer, v: Level): DecodeOutcome {
  const { packets, error } = decodePackets(bytes, v)
  if (error !== null) {
    if (!(error instanceof FieldgateError) || error.code !== 'BROKER_PROTOCOL') throw new Error(`uncoded decode error: ${errorMessage(error)}`)
    const code = error.details.reasonCode
    if (code !== 0x81 && code !== 0x82) throw new Error(`reason code ${String(code)} for: ${error.message}`)
    if (error.message.startsWith('decoder threw')) throw new Error(error.message)
  }
  let level: number = v
  for (const p of packets) {
    if (p.cmd === 'connect') level = p.protocolVersion ?? 4
    reencode(p, level === 5 ? 5 : 4)
  }
  return { packets: packets.length, refused: error === null ? null : (error.details.reasonCode as number) }
}

function outgoing(m: Message, what: string): void {
  for (const v5 of [true, false]) {
    try {
      const expiry = m.properties?.messageExpiryInterval
      encodeOutgoing(m, m.qos, m.retain, m.qos > 0 ? 1 : 0, false, v5 ? [1] : null, v5, expiry, m.topic, 0)
    } catch (err) {
      throw new Error(`${what} decoded but cannot be sent to a ${v5 ? 'v5' : '3.1.1'} subscriber: ${errorMessage(err)}`)
    }
  }
}

function reencode(p: Packet, v: Level): void {
  if (p.cmd === 'publish') {
    const pub = p as IPublishPacket
    const m: Message = { topic: pub.topic || 'alias', payload: Buffer.from(pub.payload), qos: pub.qos, retain: pub.retain }
    const props = v === 5 ? publishProperties(pub.properties) : undefined
    if (props !== undefined) m.properties = props
    outgoing(m, 'PUBLISH')
    return
  }
  if (p.cmd === 'connect') {
    const w = (p as IConnectPacket).will
    if (w !== undefined && w !== null) {
      const m: Message = { topic: w.topic, payload: Buffer.from(w.payload), qos: w.qos ?? 0, retain: w.retain === true }
      const props = v === 5 ? publishProperties(w.properties) : undefined
      if (props !== undefined) m.properties = props
      outgoing(m, 'will')
    }
  }
  // The broker never re-encodes a client's CONNECT, SUBSCRIBE or UNSUBSCRIBE (the handlers refuse what
  // mqtt-packet's generate would refuse, e.g. an empty 3.1 client id); everything else it echoes.
  if (p.cmd === 'connect' || p.cmd === 'subscribe' || p.cmd === 'unsubscribe') return
  try {
    generate(p, { protocolVersion: v })
  } catch (err) {
    throw new Error(`${p.cmd.toUpperCase()} decoded but does not re-encode: ${errorMessage(err)}`)
  }
}

/** Plays one generated session on a raw socket; bounded: at most ~400 ms after its last write. */
export async function playSession(port: number, spec: SessionSpec): Promise<void> {
  const socket = netConnect({ port, host: '127.0.0.1' })
  socket.on('error', () => undefined)
  let answered: () => void = () => undefined
  const connack = new Promise<void>((resolve) => (answered = resolve))
  socket.on('data', () => answered())
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  const opened = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('connect', () => resolve(true))),
    closed.then(() => false),
  ])
  if (!opened) return
  socket.write(spec.connect)
  // as a client does: the rest after CONNACK (or after a refusal closed the socket)
  await Promise.race([connack, closed, new Promise((r) => setTimeout(r, 500))])
  for (const op of spec.ops) {
    if (socket.destroyed) break
    if (op.kind === 'yield') await new Promise((r) => setTimeout(r, 1))
    else socket.write(op.bytes)
  }
  if (!socket.destroyed) {
    if (spec.end === 'drop') socket.destroy()
    else {
      socket.write(spec.end === 'disconnect' || spec.v !== 5 ? Buffer.from([0xe0, 0]) : Buffer.from([0xe0, 1, 0x04]))
      socket.end()
    }
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 400))])
  socket.destroy()
}

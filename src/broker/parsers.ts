import { parser as mqttParser, type Packet } from 'mqtt-packet'
import { errorMessage } from '../core/errors.ts'

/** Who receives what a borrowed parser produces. */
export interface ParserOwner {
  onPacket(p: Packet): void
  onParseError(message: string): void
}

interface ParserInternals {
  settings: { protocolVersion: number }
  packet: { length: number }
  error: unknown
  _list: { length: number }
  _stateCounter: number
}

export type SharedParser = ReturnType<typeof mqttParser> & { owner: ParserOwner | null }

const V4 = { protocolVersion: 4 }
const V5 = { protocolVersion: 5 }
const POOL_MAX = 64
const pool: SharedParser[] = []

/**
 * mqtt-packet parsers are ~1.6 KB each. Most chunks end on a packet boundary, so an idle connection
 * needs no parser: connections borrow one per chunk and keep it only while a packet is incomplete.
 */
export function borrowParser(owner: ParserOwner, protocolVersion: number): SharedParser {
  const p = pool.pop() ?? newParser()
  p.owner = owner
  ;(p as unknown as ParserInternals).settings = protocolVersion === 5 ? V5 : V4
  return p
}

/** True when the parser holds no partial packet and can go back to the pool. */
export function parserIdle(p: SharedParser): boolean {
  const i = p as unknown as ParserInternals
  return i.error === null && i._list.length === 0 && i.packet.length === -1 && i._stateCounter === 0
}

/** Length declared by the packet being parsed (-1 when not yet known). */
export function declaredLength(p: SharedParser): number {
  return (p as unknown as ParserInternals).packet.length
}

export function releaseParser(p: SharedParser): void {
  p.owner = null
  if (pool.length < POOL_MAX && parserIdle(p)) pool.push(p)
}

function newParser(): SharedParser {
  const p = mqttParser({ protocolVersion: 4 }) as SharedParser
  p.owner = null
  p.on('packet', (packet: Packet) => p.owner?.onPacket(packet))
  p.on('error', (err: unknown) => p.owner?.onParseError(errorMessage(err)))
  return p
}

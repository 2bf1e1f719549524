import { parser as mqttParser, type Packet } from 'mqtt-packet'
import { FieldgateError, errorMessage } from '../core/errors.ts'
import { packetSize } from '../core/mqtt-wire/index.ts'
import { checkPacket, publishHeaderBytes, type ByteSource } from './wellformed.ts'

/** Who receives what a borrowed parser produces. */
export interface ParserOwner {
  onPacket(p: Packet): void
  /** 0x81 Malformed Packet or 0x82 Protocol Error; `clientId` when a malformed CONNECT got that far. */
  onParseError(message: string, reasonCode: number, clientId?: string): void
}

type ByteList = ByteSource & { length: number; slice(start: number, end: number): Buffer; shallowSlice(start: number, end: number): ByteList; _bufs: Buffer[] }

interface ParserInternals {
  settings: { protocolVersion: number }
  packet: { length: number; cmd: string; qos: number }
  error: unknown
  _list: ByteList
  _stateCounter: number
  _parsePayload(): boolean
  _emitError(err: Error): void
}

/** A packet refused by the wire check or by mqtt-packet: BROKER_PROTOCOL with the MQTT reason code. */
export function wireError(message: string, reasonCode: number, clientId?: string): FieldgateError {
  return new FieldgateError('BROKER_PROTOCOL', message, { details: { reasonCode, ...(clientId === undefined ? {} : { clientId }) } })
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

/** Maximum Packet Size counts the whole packet: fixed header byte, length bytes and the rest [MQTT 5.0 §3.1.2.11.4]. */
export function wholePacket(remaining: number): number {
  return remaining < 0 ? 0 : packetSize(remaining)
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

/**
 * Runs the structural check (wellformed.ts) on each whole packet before mqtt-packet decodes it; a
 * problem ends parsing with a coded error, exactly as mqtt-packet's own errors do.
 */
function guardPayload(parser: ReturnType<typeof mqttParser>): void {
  const i = parser as unknown as ParserInternals
  const decode = i._parsePayload
  i._parsePayload = function checkedPayload(this: ParserInternals): boolean {
    const len = this.packet.length
    const list = this._list
    if (len !== 0 && list.length < len) return false // not complete yet
    const { cmd, qos } = this.packet
    const v5 = this.settings.protocolVersion === 5
    // the packet usually sits in the list's first buffer (position 0 is the packet's first byte after
    // its fixed header): read it there, without bl's per-read slices
    const head = list._bufs[0]
    const src: ByteSource = head !== undefined && head.length >= len ? head : list
    const n = cmd === 'publish' ? publishHeaderBytes(src, len, qos, v5) : len
    const bytes = n === 0 ? EMPTY : src === head ? head : list.slice(0, n)
    const problem = checkPacket(cmd, qos, v5, bytes, n)
    if (problem !== null) {
      this._emitError(wireError(problem.reason, problem.reasonCode, problem.clientId))
      return true
    }
    if ((cmd !== 'disconnect' && cmd !== 'auth') || list.length === len) return decode.call(this)
    // mqtt-packet reads a v5 DISCONNECT's or AUTH's reason code and properties while its list has bytes,
    // the next packet's too: let it see only this packet
    this._list = list.shallowSlice(0, len)
    try {
      return decode.call(this)
    } finally {
      this._list = list
    }
  }
}

const EMPTY = Buffer.alloc(0)

function codeOf(err: unknown): number {
  return err instanceof FieldgateError && typeof err.details.reasonCode === 'number' ? err.details.reasonCode : 0x81
}

function clientIdOf(err: unknown): string | undefined {
  return err instanceof FieldgateError && typeof err.details.clientId === 'string' ? err.details.clientId : undefined
}

function newParser(): SharedParser {
  const p = mqttParser({ protocolVersion: 4 }) as SharedParser
  guardPayload(p)
  p.owner = null
  p.on('packet', (packet: Packet) => p.owner?.onPacket(packet))
  p.on('error', (err: unknown) => p.owner?.onParseError(errorMessage(err), codeOf(err), clientIdOf(err)))
  return p
}

/**
 * Decode a byte string the way a connection does (wire check, then mqtt-packet), for tests and tools:
 * the packets before the first error, and that error as a coded BROKER_PROTOCOL error.
 */
export function decodePackets(bytes: Buffer, protocolVersion: 4 | 5): { packets: Packet[]; error: FieldgateError | null } {
  const p = mqttParser({ protocolVersion })
  guardPayload(p)
  const packets: Packet[] = []
  let error: FieldgateError | null = null
  p.on('packet', (packet: Packet) => {
    if (error === null) packets.push(packet)
  })
  p.on('error', (err: unknown) => {
    error ??= err instanceof FieldgateError ? err : wireError(errorMessage(err), 0x81)
  })
  try {
    p.parse(bytes)
  } catch (err) {
    error ??= wireError(`decoder threw: ${errorMessage(err)}`, 0x81)
  }
  return { packets, error }
}

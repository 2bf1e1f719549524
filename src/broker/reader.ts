import { errorMessage } from '../core/errors.ts'
import { decodeHot } from './fast-path.ts'
import { borrowParser, declaredLength, parserIdle, releaseParser, type ParserOwner, type SharedParser } from './parsers.ts'

/** A connection as the reader sees it: where packets and errors go, and the level to decode at. */
export interface ReaderOwner extends ParserOwner {
  /** A parser holding a packet that is split across chunks; null otherwise. */
  parser: SharedParser | null
  readonly protocolVersion: number
  isOpen(): boolean
  /** A packet still arriving has declared its Remaining Length (refuse it early if too large). */
  declared(remaining: number): void
}

/**
 * Bytes → packets for one connection, in order. Whole hot packets (fast-path.ts) are decoded straight
 * from the chunk; every other whole packet, and a packet split across chunks, goes through a pooled
 * mqtt-packet parser with the wire check (parsers.ts). A split packet's parser gets only that packet's
 * bytes, so the packets after it return to the fast path. The level is read per packet, so a CONNECT's
 * handler sets it for the packets behind it in the same chunk (as mqtt-packet does).
 */
export function readChunk(o: ReaderOwner, chunk: Buffer): void {
  const end = chunk.length
  let pos = o.parser === null ? 0 : finishSplit(o, chunk)
  while (pos < end && o.parser === null && o.isOpen()) {
    // fixed header: type byte, then the Remaining Length, a variable byte integer of 1-4 bytes
    const first = chunk[pos] as number
    let i = pos + 1
    let length = 0
    let mul = 1
    let known = false
    while (i < end && i < pos + 5) {
      const b = chunk[i++] as number
      length += (b & 0x7f) * mul
      if (b < 0x80) {
        known = true
        break
      }
      mul *= 128
    }
    // split (or a malformed length): mqtt-packet takes the rest, and reports what is wrong
    if (!known || i + length > end) return parse(o, chunk.subarray(pos))
    const p = decodeHot(first, chunk, i, length, o.protocolVersion === 5)
    if (p === null) parse(o, chunk.subarray(pos, i + length))
    else o.onPacket(p)
    pos = i + length
  }
  if (pos < end && o.parser !== null && o.isOpen()) parse(o, chunk.subarray(pos))
}

/** Feeds the held parser the rest of its packet (its header a byte at a time); returns the bytes used. */
function finishSplit(o: ReaderOwner, chunk: Buffer): number {
  let pos = 0
  while (o.parser !== null && pos < chunk.length && o.isOpen()) {
    const left = missing(o.parser)
    const n = left <= 0 ? 1 : Math.min(left, chunk.length - pos)
    parse(o, chunk.subarray(pos, pos + n))
    pos += n
  }
  return pos
}

/** Bytes the held parser still needs for its packet, or 0 while its Remaining Length is incomplete. */
function missing(p: SharedParser): number {
  const length = declaredLength(p)
  if (length < 0) return 0
  return length - (p as unknown as { _list: { length: number } })._list.length
}

/** mqtt-packet (with the wire check) on `bytes`; keeps the parser only while it holds a partial packet. */
function parse(o: ReaderOwner, bytes: Buffer): void {
  const parser = o.parser ?? borrowParser(o, o.protocolVersion)
  try {
    parser.parse(bytes)
  } catch (err) {
    // the parser should report through 'error'; a throw must still only cost this connection
    o.parser = null
    return o.onParseError(errorMessage(err), 0x81)
  }
  if (!o.isOpen() || parserIdle(parser)) {
    o.parser = null
    return releaseParser(parser)
  }
  o.parser = parser
  const length = declaredLength(parser)
  if (length >= 0) o.declared(length)
}

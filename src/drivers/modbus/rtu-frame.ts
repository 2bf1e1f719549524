import { answerLengthFromHead, decodeAnswer, type PduAnswer, type PduRequest } from './pdu.ts'

/** CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF); sent low byte first. */
export function crc16(buf: Buffer, end = buf.length): number {
  let crc = 0xffff
  for (let i = 0; i < end; i++) {
    crc ^= buf[i] as number
    for (let b = 0; b < 8; b++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1
  }
  return crc
}

/** An RTU frame: unit, PDU, CRC (Modbus over Serial Line V1.02, 2.5.1). */
export function rtuFrame(unit: number, pdu: Buffer): Buffer {
  const f = Buffer.alloc(pdu.length + 3)
  f[0] = unit
  pdu.copy(f, 1)
  f.writeUInt16LE(crc16(f, pdu.length + 1), pdu.length + 1)
  return f
}

/** A complete frame with a good CRC, whoever it is for. */
export interface RtuFrame {
  unit: number
  pdu: Buffer
}

/**
 * Finds the first complete frame with a good CRC in `buf` (an answer of any known function, so frames
 * meant for another request can be skipped whole). `skipped` counts bytes before it that start no frame.
 */
export function nextRtuFrame(buf: Buffer): { frame: RtuFrame; skipped: number; end: number } | null {
  for (let at = 0; at + 4 <= buf.length; at++) {
    const len = answerLengthFromHead(buf.subarray(at + 1))
    if (len === null || len < 0) continue
    const end = at + 1 + len + 2
    if (end > buf.length) continue
    if (buf.readUInt16LE(end - 2) !== crc16(buf.subarray(at, end - 2))) continue
    return { frame: { unit: buf[at] as number, pdu: Buffer.from(buf.subarray(at + 1, end - 2)) }, skipped: at, end }
  }
  return null
}

export type RtuMatch = { kind: 'answer'; answer: Exclude<PduAnswer, { kind: 'mismatch' }> } | { kind: 'foreign'; reason: string }

/** Whether `frame` answers `req` sent to `unit`: unit, function, length, byte count and echoes must agree. */
export function matchRtu(frame: RtuFrame, unit: number, req: PduRequest): RtuMatch {
  if (frame.unit !== unit) return { kind: 'foreign', reason: `from unit ${frame.unit}` }
  const a = decodeAnswer(req, frame.pdu)
  return a.kind === 'mismatch' ? { kind: 'foreign', reason: a.reason } : { kind: 'answer', answer: a }
}

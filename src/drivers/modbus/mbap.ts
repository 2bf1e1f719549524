/** Modbus TCP framing: the MBAP header (Modbus Messaging on TCP/IP Implementation Guide V1.0b, 3.1.3). */

export function mbapFrame(tid: number, unit: number, pdu: Buffer): Buffer {
  const f = Buffer.alloc(7 + pdu.length)
  f.writeUInt16BE(tid, 0)
  f.writeUInt16BE(0, 2)
  f.writeUInt16BE(pdu.length + 1, 4)
  f[6] = unit
  pdu.copy(f, 7)
  return f
}

export type MbapScan = { kind: 'incomplete' } | { kind: 'bad'; reason: string } | { kind: 'frame'; tid: number; unit: number; pdu: Buffer; end: number }

/** The first ADU in `buf`. A wrong protocol id or an impossible length means the stream is out of step. */
export function scanMbap(buf: Buffer): MbapScan {
  if (buf.length < 7) return { kind: 'incomplete' }
  const protocol = buf.readUInt16BE(2)
  if (protocol !== 0) return { kind: 'bad', reason: `protocol id ${protocol}` }
  const length = buf.readUInt16BE(4)
  // unit + a PDU of 2..253 bytes (an exception is 2)
  if (length < 3 || length > 254) return { kind: 'bad', reason: `MBAP length ${length}` }
  const end = 6 + length
  if (buf.length < end) return { kind: 'incomplete' }
  return { kind: 'frame', tid: buf.readUInt16BE(0), unit: buf[6] as number, pdu: Buffer.from(buf.subarray(7, end)), end }
}

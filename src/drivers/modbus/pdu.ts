/**
 * Modbus PDUs (function code + data), the part shared by RTU and TCP framing. Pure: requests to bytes,
 * and bytes to "the answer to this request", "an exception to this request" or "not an answer to it".
 * Function codes per the Modbus Application Protocol Specification V1.1b3, section 6.
 */

export type PduRequest =
  | { fc: 1 | 2 | 3 | 4; address: number; count: number }
  | { fc: 5; address: number; value: boolean }
  | { fc: 6; address: number; value: number }
  | { fc: 15; address: number; values: boolean[] }
  | { fc: 16; address: number; values: number[] }
  | { fc: 22; address: number; and: number; or: number }

export type PduAnswer = { kind: 'data'; bits?: boolean[]; words?: number[] } | { kind: 'exception'; code: number } | { kind: 'mismatch'; reason: string }

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff]

export function encodeRequest(r: PduRequest): Buffer {
  switch (r.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      return Buffer.from([r.fc, ...u16(r.address), ...u16(r.count)])
    case 5:
      return Buffer.from([5, ...u16(r.address), r.value ? 0xff : 0, 0])
    case 6:
      return Buffer.from([6, ...u16(r.address), ...u16(r.value)])
    case 15: {
      const bytes = new Array<number>(Math.ceil(r.values.length / 8)).fill(0)
      r.values.forEach((v, i) => {
        if (v) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7))
      })
      return Buffer.from([15, ...u16(r.address), ...u16(r.values.length), bytes.length, ...bytes])
    }
    case 16:
      return Buffer.from([16, ...u16(r.address), ...u16(r.values.length), r.values.length * 2, ...r.values.flatMap(u16)])
    case 22:
      return Buffer.from([22, ...u16(r.address), ...u16(r.and), ...u16(r.or)])
  }
}

/** Length of the normal answer PDU to `r`. */
export function answerLength(r: PduRequest): number {
  if (r.fc === 1 || r.fc === 2) return 2 + Math.ceil(r.count / 8)
  if (r.fc === 3 || r.fc === 4) return 2 + 2 * r.count
  return r.fc === 22 ? 7 : 5
}

/**
 * Length of an answer PDU from its first bytes, whatever request it answers (for skipping frames that are
 * not ours); null when more bytes are needed, -1 when no answer starts like this.
 */
export function answerLengthFromHead(head: Buffer): number | null {
  if (head.length < 1) return null
  const fc = head[0] as number
  if (fc & 0x80) return 2
  if (fc >= 1 && fc <= 4) return head.length < 2 ? null : 2 + (head[1] as number)
  if (fc === 5 || fc === 6 || fc === 15 || fc === 16) return 5
  if (fc === 22) return 7
  return -1
}

/** Checks `pdu` against the request it should answer: function, length, byte count and the echoed fields. */
export function decodeAnswer(r: PduRequest, pdu: Buffer): PduAnswer {
  const fc = pdu[0]
  if (fc === (r.fc | 0x80)) return pdu.length === 2 ? { kind: 'exception', code: pdu[1] as number } : { kind: 'mismatch', reason: `exception of ${pdu.length} bytes` }
  if (fc !== r.fc) return { kind: 'mismatch', reason: `function ${fc} answers function ${r.fc}` }
  const want = answerLength(r)
  if (pdu.length !== want) return { kind: 'mismatch', reason: `${pdu.length} bytes where ${want} were due` }
  if (r.fc === 1 || r.fc === 2 || r.fc === 3 || r.fc === 4) {
    if (pdu[1] !== want - 2) return { kind: 'mismatch', reason: `byte count ${pdu[1]} where ${want - 2} was due` }
    if (r.fc === 3 || r.fc === 4) {
      const words: number[] = []
      for (let i = 0; i < r.count; i++) words.push(pdu.readUInt16BE(2 + 2 * i))
      return { kind: 'data', words }
    }
    const bits: boolean[] = []
    for (let i = 0; i < r.count; i++) bits.push((((pdu[2 + (i >> 3)] as number) >> (i & 7)) & 1) === 1)
    return { kind: 'data', bits }
  }
  // Writes echo the request's address and value/quantity (FC 22: address and both masks).
  const sent = encodeRequest(r)
  const echoed = r.fc === 15 || r.fc === 16 ? sent.subarray(0, 5) : sent
  if (!pdu.equals(echoed)) return { kind: 'mismatch', reason: 'the write echo differs from the request' }
  return { kind: 'data' }
}

import { SerialPort } from 'serialport'

/** CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), low byte first on the wire. */
export function crc16(buf: Buffer): number {
  let crc = 0xffff
  for (const b of buf) {
    crc ^= b
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1
  }
  return crc
}

export type Fault = 'ok' | 'wrong-unit' | 'bad-crc' | 'silent'

/**
 * A deliberately faulty RTU slave on a pty: answers FC3/FC4 reads with register value = address,
 * or with the wrong unit id, a corrupted CRC, or not at all.
 */
export class FaultyRtuSlave {
  fault: Fault = 'ok'
  requests = 0
  private buf = Buffer.alloc(0)

  private port: SerialPort | null = null

  /** Serves frames read from `source` and answers through `sink` (a pty port or a TCP socket). */
  constructor(source: { on(ev: 'data', cb: (d: Buffer) => void): unknown }, private readonly sink: { write(b: Buffer): unknown }) {
    source.on('data', (d: Buffer) => this.onData(d))
  }

  static async open(path: string): Promise<FaultyRtuSlave> {
    const port = new SerialPort({ path, baudRate: 9600, autoOpen: false })
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())))
    port.on('error', () => undefined)
    const slave = new FaultyRtuSlave(port, port)
    slave.port = port
    return slave
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d])
    // Read requests are exactly 8 bytes: unit, fc, addr(2), count(2), crc(2).
    while (this.buf.length >= 8) {
      const req = this.buf.subarray(0, 8)
      this.buf = this.buf.subarray(8)
      this.requests++
      this.answer(req)
    }
  }

  private answer(req: Buffer): void {
    if (this.fault === 'silent') return
    const unit = req[0] as number
    const fc = req[1] as number
    const addr = req.readUInt16BE(2)
    const count = req.readUInt16BE(4)
    const body = Buffer.alloc(3 + count * 2)
    body[0] = this.fault === 'wrong-unit' ? unit + 1 : unit
    body[1] = fc
    body[2] = count * 2
    for (let i = 0; i < count; i++) body.writeUInt16BE((addr + i) & 0xffff, 3 + i * 2)
    const crc = Buffer.alloc(2)
    crc.writeUInt16LE(crc16(body) ^ (this.fault === 'bad-crc' ? 0x5a5a : 0))
    this.sink.write(Buffer.concat([body, crc]))
  }

  close(): Promise<void> {
    const port = this.port
    return new Promise((resolve) => (port?.isOpen ? port.close(() => resolve()) : resolve()))
  }
}

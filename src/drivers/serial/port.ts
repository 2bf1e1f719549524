import { SerialPort } from 'serialport'

export interface SerialOptions {
  path: string
  baudRate: number
  dataBits: 5 | 6 | 7 | 8
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space'
  stopBits: 1 | 1.5 | 2
}

/** The part of serialport's SerialPort the drivers use; tests may pass anything shaped like it. */
export interface SerialPortLike {
  open(cb: (err: Error | null) => void): void
  close(cb?: (err: Error | null) => void): void
  write(data: Buffer | string, cb?: (err: Error | null | undefined) => void): boolean
  on(event: 'data', cb: (chunk: Buffer) => void): unknown
  on(event: 'close', cb: (err?: Error & { disconnected?: boolean }) => void): unknown
  on(event: 'error', cb: (err: Error) => void): unknown
  removeAllListeners(): unknown
  readonly isOpen: boolean
}

export type OpenSerialPort = (o: SerialOptions) => SerialPortLike

/** A new, not yet opened SerialPort each call: a port object that saw a disconnect cannot be reused (FINDINGS). */
export const openSerialPort: OpenSerialPort = (o) =>
  new SerialPort({ path: o.path, baudRate: o.baudRate, dataBits: o.dataBits, parity: o.parity, stopBits: o.stopBits, autoOpen: false })

/** What a Modbus link offers the line and the driver; transport.ts opens one, framed-transport.ts implements it. */

export type BitTable = 'coil' | 'discrete'
export type RegisterTable = 'input' | 'holding'

/** Per line, across reconnects. */
export interface LinkCounters {
  requests: number
  answers: number
  exceptions: number
  timeouts: number
  /** TCP: answers out of step (wrong transaction id, length, unit, protocol); each closed the connection. */
  framingErrors: number
  /** Well-formed frames that answered no outstanding request (late answers, other units): never used. */
  discardedFrames: number
  /** Bytes that started no frame (noise, truncated frames, leftovers before a request). */
  discardedBytes: number
  /** Discarded frames that were a late answer from a unit that had timed out. */
  lateAnswers: number
}

/** One Modbus link (a serial line, a TCP connection); the caller serialises transactions. */
export interface ModbusTransport {
  readBits(unit: number, table: BitTable, start: number, count: number, timeout: number): Promise<boolean[]>
  readRegisters(unit: number, table: RegisterTable, start: number, count: number, timeout: number): Promise<number[]>
  writeCoil(unit: number, address: number, value: boolean, timeout: number): Promise<void>
  /** FC 6 for one word unless `fc` is 16 (devices that reject FC 6); FC 16 for more. */
  writeRegisters(unit: number, address: number, words: number[], timeout: number, fc?: 6 | 16): Promise<void>
  /** FC 22: register = (register AND and) OR (or AND NOT and). */
  maskWriteRegister(unit: number, address: number, and: number, or: number, timeout: number): Promise<void>
  readonly isOpen: boolean
  /** host:port or the serial path this transport talks to. */
  readonly endpoint?: string
  /** True when connected to a Modbus TCP device's backup host. */
  readonly onBackup?: boolean
  counters?(): LinkCounters
  /** RTU: when a request to `unit` (of any function) can go without waiting for a late answer it may still send. */
  readyAt?(unit: number): number
  /** Why the transport closed itself (peer closed, out of step, timeout on TCP), once it has. */
  readonly closedBecause?: Error | null
  close(): Promise<void>
}

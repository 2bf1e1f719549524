import ModbusRTU from 'modbus-serial'

export type BitTable = 'coil' | 'discrete'
export type RegisterTable = 'input' | 'holding'

/** One Modbus link (a serial line, a TCP connection); the caller serialises transactions. */
export interface ModbusTransport {
  readBits(unit: number, table: BitTable, start: number, count: number, timeout: number): Promise<boolean[]>
  readRegisters(unit: number, table: RegisterTable, start: number, count: number, timeout: number): Promise<number[]>
  writeCoil(unit: number, address: number, value: boolean, timeout: number): Promise<void>
  /** FC6 for one word, FC16 for more; `fc = 16` uses FC16 for one word too (devices that reject FC6). */
  writeRegisters(unit: number, address: number, words: number[], timeout: number, fc?: 6 | 16): Promise<void>
  /** FC22: register = (register AND and) OR (or AND NOT and), done by the device. */
  maskWriteRegister(unit: number, address: number, and: number, or: number, timeout: number): Promise<void>
  readonly isOpen: boolean
  close(): Promise<void>
}

export type TransportFactory = () => Promise<ModbusTransport>

export type LinkSpec =
  | { kind: 'rtu'; path: string; baudRate: number; dataBits: 5 | 6 | 7 | 8; parity: 'none' | 'even' | 'odd' | 'mark' | 'space'; stopBits: 1 | 1.5 | 2 }
  | { kind: 'tcp' | 'rtu-over-tcp'; host: string; port: number; connectTimeout: number }

/** modbus-serial behind the ModbusTransport interface. */
class ModbusSerialTransport implements ModbusTransport {
  private closed = false

  constructor(private readonly client: ModbusRTU) {
    client.on('close', () => {
      this.closed = true
    })
    // An 'error' without a listener would crash the process; failures surface through the next transaction.
    client.on('error', () => undefined)
  }

  get isOpen(): boolean {
    return !this.closed && this.client.isOpen
  }

  private use(unit: number, timeout: number): ModbusRTU {
    this.client.setID(unit)
    this.client.setTimeout(timeout)
    return this.client
  }

  async readBits(unit: number, table: BitTable, start: number, count: number, timeout: number): Promise<boolean[]> {
    const c = this.use(unit, timeout)
    const r = table === 'coil' ? await c.readCoils(start, count) : await c.readDiscreteInputs(start, count)
    return r.data.slice(0, count)
  }

  async readRegisters(unit: number, table: RegisterTable, start: number, count: number, timeout: number): Promise<number[]> {
    const c = this.use(unit, timeout)
    const r = table === 'holding' ? await c.readHoldingRegisters(start, count) : await c.readInputRegisters(start, count)
    return r.data
  }

  async writeCoil(unit: number, address: number, value: boolean, timeout: number): Promise<void> {
    await this.use(unit, timeout).writeCoil(address, value)
  }

  async writeRegisters(unit: number, address: number, words: number[], timeout: number, fc?: 6 | 16): Promise<void> {
    const c = this.use(unit, timeout)
    if (words.length === 1 && fc !== 16) await c.writeRegister(address, words[0] as number)
    else await c.writeRegisters(address, words)
  }

  async maskWriteRegister(unit: number, address: number, and: number, or: number, timeout: number): Promise<void> {
    await this.use(unit, timeout).maskWriteRegister(address, and, or)
  }

  close(): Promise<void> {
    this.closed = true
    return new Promise((resolve) => {
      // modbus-serial never calls back when the socket is already gone; do not let that stall the line.
      const guard = setTimeout(resolve, 500)
      const done = (): void => {
        clearTimeout(guard)
        resolve()
      }
      try {
        this.client.close(done)
      } catch {
        done()
      }
    })
  }
}

/** Opens a modbus-serial client for the link; a new client each time (a closed serial port cannot be reused). */
export function modbusSerialFactory(spec: LinkSpec): TransportFactory {
  return async () => {
    const client = new ModbusRTU()
    if (spec.kind === 'rtu') {
      await client.connectRTUBuffered(spec.path, { baudRate: spec.baudRate, dataBits: spec.dataBits, parity: spec.parity, stopBits: spec.stopBits })
    } else if (spec.kind === 'tcp') {
      await client.connectTCP(spec.host, { port: spec.port, timeout: spec.connectTimeout })
    } else {
      // modbus-serial's "Telnet" port carries raw RTU frames (with CRC) over a TCP socket, as transparent
      // serial servers expect; its "TcpRTUBuffered" port speaks MBAP and is not RTU over TCP.
      await client.connectTelnet(spec.host, { port: spec.port, timeout: spec.connectTimeout })
    }
    return new ModbusSerialTransport(client)
  }
}

export function linkKey(spec: LinkSpec): string {
  return spec.kind === 'rtu' ? `serial:${spec.path}` : `${spec.kind}:${spec.host}:${spec.port}`
}

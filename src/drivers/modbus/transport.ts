import { systemClock, type Clock } from '../../core/index.ts'
import { openSerialPort, type OpenSerialPort } from '../serial/port.ts'
import { openSerialLink, openTcpLink } from './byte-link.ts'
import { LinkDownError } from './errors.ts'
import { FramedTransport, LinkState } from './framed-transport.ts'
import type { ModbusTransport } from './transport-api.ts'

export type { BitTable, LinkCounters, ModbusTransport, RegisterTable } from './transport-api.ts'

/** Opens a transport; `primaryOnly` asks a TCP link with a backup host for its primary (to fail back). */
export type TransportFactory = (o?: { primaryOnly?: boolean }) => Promise<ModbusTransport>

export type LinkSpec =
  | {
      kind: 'rtu'
      path: string
      baudRate: number
      dataBits: 5 | 6 | 7 | 8
      parity: 'none' | 'even' | 'odd' | 'mark' | 'space'
      stopBits: 1 | 1.5 | 2
      /** Line silence before each request, ms; default 3.5 character times (1.75 ms above 19200 baud). */
      frameGap?: number
    }
  | {
      kind: 'tcp' | 'rtu-over-tcp'
      host: string
      port: number
      connectTimeout: number
      backup?: { host: string; port: number }
      /** rtu-over-tcp: silence on the socket before each request, ms (default 2). */
      frameGap?: number
    }

/** 3.5 character times of this serial format (Modbus over Serial Line V1.02, 2.5.1.1). */
export function defaultFrameGap(spec: { baudRate: number; dataBits: number; parity: string; stopBits: number }): number {
  if (spec.baudRate > 19200) return 1.75
  const bits = 1 + spec.dataBits + (spec.parity === 'none' ? 0 : 1) + spec.stopBits
  return (3.5 * bits * 1000) / spec.baudRate
}

/** Our framing (RTU or MBAP) over serialport or a TCP socket; one LinkState per line, kept across reconnects. */
export function modbusFactory(spec: LinkSpec, deps: { openSerialPort?: OpenSerialPort; clock?: Clock } = {}): TransportFactory {
  const clock = deps.clock ?? systemClock
  const state = new LinkState()
  if (spec.kind === 'rtu') {
    const frameGap = spec.frameGap ?? defaultFrameGap(spec)
    return async () => {
      const link = await openSerialLink(deps.openSerialPort ?? openSerialPort, spec)
      return new FramedTransport(link, { framing: 'rtu', frameGap, closeOnError: false, clock, state, where: spec.path, endpoint: spec.path })
    }
  }
  const framing = spec.kind === 'tcp' ? 'mbap' : 'rtu'
  const open = async (host: string, port: number, onBackup: boolean): Promise<ModbusTransport> => {
    const link = await openTcpLink(host, port, spec.connectTimeout)
    const where = `${host}:${port}`
    return new FramedTransport(link, { framing, frameGap: spec.frameGap ?? 2, closeOnError: true, clock, state, where, endpoint: where, onBackup })
  }
  return async (o) => {
    try {
      return await open(spec.host, spec.port, false)
    } catch (err) {
      const b = spec.backup
      if (!b || o?.primaryOnly) throw err
      try {
        return await open(b.host, b.port, true)
      } catch (err2) {
        const code = err instanceof LinkDownError ? err.code : undefined
        throw new LinkDownError(`${(err as Error).message}; backup: ${(err2 as Error).message}`, code, { cause: err })
      }
    }
  }
}

export function linkKey(spec: LinkSpec): string {
  return spec.kind === 'rtu' ? `serial:${spec.path}` : `${spec.kind}:${spec.host}:${spec.port}`
}

import { FieldgateError } from '../../core/index.ts'

const EXCEPTIONS: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
}

/** "illegal data address" for 2; the name a technician looks up in the Modbus spec. */
export function exceptionName(code: number): string {
  return EXCEPTIONS[code] ?? `unknown exception ${code}`
}

/** No answer within the timeout (errno as Node's own timeouts, so callers need not know the class). */
export class ModbusTimeoutError extends Error {
  readonly errno = 'ETIMEDOUT'
  constructor(message: string) {
    super(message)
    this.name = 'ModbusTimeoutError'
  }
}

/** The slave answered with an exception PDU. */
export class ModbusExceptionError extends Error {
  constructor(readonly modbusCode: number) {
    super(`modbus exception ${modbusCode} (${EXCEPTIONS[modbusCode] ?? 'unknown exception'})`)
    this.name = 'ModbusExceptionError'
  }
}

/** Bytes that are not a well-formed answer to the outstanding request (TCP: the stream is out of step). */
export class ModbusFramingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ModbusFramingError'
  }
}

/** The link (serial port, TCP connection) is gone; `code` is the system's (ECONNREFUSED, ENOENT...). */
export class LinkDownError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'LinkDownError'
  }
}

const CAUSES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'connect timed out',
  ENOENT: 'no such port',
  EACCES: 'permission denied',
  EBUSY: 'port busy',
  EPIPE: 'connection closed',
}

/** A short, true cause of a failed or lost link, for a point's error ("connection refused", not "timeout"). */
export function linkCause(err: unknown): string {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = field(e, 'cause'), depth++) {
    const code = field(e, 'code')
    if (typeof code === 'string' && CAUSES[code]) return CAUSES[code] as string
    const msg = e instanceof Error ? e.message : ''
    const m = /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ENOENT|EACCES|EBUSY|EPIPE)\b/.exec(msg)
    if (m) return CAUSES[m[1] as string] as string
    if (/No such file/i.test(msg)) return CAUSES.ENOENT as string
  }
  return 'link unavailable'
}

function field(err: unknown, key: string): unknown {
  return typeof err === 'object' && err !== null ? (err as Record<string, unknown>)[key] : undefined
}

/** True when the link itself is gone (port closed, unplugged, connection refused or reset). */
export function isLinkError(err: unknown): boolean {
  const name = field(err, 'name')
  const code = field(err, 'code') ?? field(err, 'errno')
  const msg = err instanceof Error ? err.message : String(err)
  return (
    name === 'PortNotOpenError' ||
    name === 'LinkDownError' ||
    /port not open|not open|cannot open|No such file|ECONNREFUSED|ECONNRESET|EPIPE|socket|closed/i.test(msg) ||
    (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code))
  )
}

export function isTimeout(err: unknown): boolean {
  return field(err, 'errno') === 'ETIMEDOUT' || field(err, 'name') === 'TransactionTimedOutError' || field(err, 'name') === 'ModbusTimeoutError'
}

/** Turns what a transport throws into a coded error naming the device, unit and registers. */
export function modbusError(err: unknown, where: { device: string; unit: number; what: string; timeout: number }): FieldgateError {
  if (err instanceof FieldgateError) return err
  const at = `${where.device} (unit ${where.unit}, ${where.what})`
  const mc = field(err, 'modbusCode')
  if (typeof mc === 'number') {
    const text = EXCEPTIONS[mc] ?? 'unknown exception'
    return new FieldgateError('DRIVER_MODBUS_EXCEPTION', `modbus exception ${mc} (${text}) from ${at}; check the register map against the datasheet`, {
      cause: err,
      details: { modbusCode: mc, ...where },
    })
  }
  if (isTimeout(err)) {
    return new FieldgateError('DRIVER_TIMEOUT', `no answer within ${where.timeout} ms from ${at}; check wiring, unit id, baud rate and parity`, {
      cause: err,
      details: where,
    })
  }
  const msg = err instanceof Error ? err.message : String(err)
  if (isLinkError(err)) {
    return new FieldgateError('DRIVER_PORT_UNAVAILABLE', `link to ${at} unavailable: ${msg}`, { cause: err, details: where })
  }
  return new FieldgateError('DRIVER_PARSE', `bad response from ${at}: ${msg}`, { cause: err, details: where })
}

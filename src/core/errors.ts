/**
 * Errors with a stable machine-readable code and an optional cause, after level's errors module.
 * Messages say what was wrong, where, and what to do.
 */
export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'CONFIG_PARSE'
  | 'QUEUE_FULL'
  | 'QUEUE_CLOSED'
  | 'QUEUE_WRITE_FAILED'
  | 'STORE_CORRUPT'
  | 'STORE_LOCKED'
  | 'STORE_UNAVAILABLE'
  | 'START_FAILED'
  | 'BRIDGE_OFFLINE'
  | 'BRIDGE_CONNECT_FAILED'
  | 'DRIVER_PORT_UNAVAILABLE'
  | 'DRIVER_TIMEOUT'
  | 'DRIVER_MODBUS_EXCEPTION'
  | 'DRIVER_PARSE'
  | 'DRIVER_WRITE_REJECTED'
  | 'BROKER_PROTOCOL'
  | 'BROKER_NOT_AUTHORIZED'
  | 'BROKER_LIMIT'
  | 'BROKER_CLOSED'
  | 'AUTH_FILE'
  | 'EXE_BUILD'
  | 'UPDATE_REFUSED'
  | 'UPDATE_FAILED'
  | 'UPDATE_DISK_FULL'
  | 'STORE_FORMAT'

export class FieldgateError extends Error {
  readonly code: ErrorCode
  readonly details: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'FieldgateError'
    this.code = code
    this.details = options.details ?? {}
  }
}

export function isFieldgateError(err: unknown, code?: ErrorCode): err is FieldgateError {
  return err instanceof FieldgateError && (code === undefined || err.code === code)
}

/** Best-effort message of an unknown thrown value, for logs and status. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}

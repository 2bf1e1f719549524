import { pino } from 'pino'
import type { Logger } from './core/logger.ts'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/** JSON lines to stdout (pino). Synchronous writes so a crash never loses the last lines. */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger & { level: string } {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ sync: true }))
}

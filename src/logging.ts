import { pino, type Logger as Pino } from 'pino'
import type { Logger } from './core/logger.ts'
import { redactFields } from './core/redact.ts'

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent'

/**
 * pino appends each child's bindings to its parent's, so a module that binds `module` (or `uplink`)
 * under a caller that already bound it wrote the key twice per line: `"module":"store","module":"store"`,
 * which log shippers read inconsistently. Children here are made from the root with the merged
 * bindings instead, so each key appears once and the innermost value wins.
 */
type MakeChild = (bindings: Record<string, unknown>, options: { level: string }) => Pino

function withMergedChildren(inst: Pino, fromRoot: MakeChild, bound: Record<string, unknown>): Pino {
  const child = (bindings: Record<string, unknown>): Pino => {
    const merged = { ...bound, ...bindings }
    return withMergedChildren(fromRoot(merged, { level: inst.level }), fromRoot, merged)
  }
  return Object.assign(inst, { child })
}

/** JSON lines to stdout (pino). Synchronous writes so a crash never loses the last lines. */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger & { level: string } {
  const root = pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The last line of defence for URLs with passwords (modules redact what they log; see core/redact.ts).
      // Only lines that are written pay for it, and a clean record is passed on as it is.
      hooks: {
        logMethod(args, method) {
          method.apply(this, redactFields(args, 5))
        },
      },
    },
    pino.destination({ sync: true }),
  )
  const fromRoot: MakeChild = root.child.bind(root)
  return withMergedChildren(root, fromRoot, {})
}

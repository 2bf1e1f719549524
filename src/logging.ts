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

/** The most recent log lines, bounded in count and bytes, for remote diagnostics (docs/fleet.md). */
export class LogRing {
  private lines: string[] = []
  private bytes = 0

  constructor(
    readonly maxLines = 1000,
    readonly maxBytes = 512_000,
  ) {}

  push(line: string): void {
    const text = line.endsWith('\n') ? line.slice(0, -1) : line
    this.lines.push(text)
    this.bytes += text.length
    while (this.lines.length > this.maxLines || (this.bytes > this.maxBytes && this.lines.length > 1)) this.bytes -= (this.lines.shift() as string).length
  }

  /** The newest `n` lines, oldest first. */
  recent(n: number): string[] {
    return this.lines.slice(Math.max(0, this.lines.length - n))
  }
}

/** JSON lines to stdout (pino). Synchronous writes so a crash never loses the last lines. `ring` also keeps the latest. */
export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}, ring?: LogRing): Logger & { level: string } {
  const out = pino.destination({ sync: true })
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
    ring
      ? {
          write(line: string) {
            out.write(line)
            ring.push(line)
          },
        }
      : out,
  )
  const fromRoot: MakeChild = root.child.bind(root)
  return withMergedChildren(root, fromRoot, {})
}

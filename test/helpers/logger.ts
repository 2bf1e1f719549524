import type { Logger } from '../../src/core/index.ts'

/** One recorded log call: its level, the child bindings in force, the object argument and the message. */
export interface LogLine {
  level: string
  bindings: Record<string, unknown>
  obj: Record<string, unknown>
  msg: string
}

/**
 * A logger that records every line with its child bindings, to check what a line says, how often a
 * reason is repeated, and that a key is not bound twice. Children record into the same `lines`.
 */
export function captureLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (a: Record<string, unknown> | string, b?: string): void => {
      lines.push(typeof a === 'string' ? { level, bindings, obj: {}, msg: a } : { level, bindings, obj: a, msg: b ?? '' })
    }
  return {
    lines,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    child: (more) => captureLogger(lines, { ...bindings, ...more }),
  }
}

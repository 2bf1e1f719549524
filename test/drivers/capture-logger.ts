import type { Logger } from '../../src/core/index.ts'

export interface LogLine {
  level: string
  bindings: Record<string, unknown>
  fields: Record<string, unknown>
  msg: string
}

/** A logger that records every line with its child bindings (to check what a line says, and that keys are not repeated). */
export function captureLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (a: Record<string, unknown> | string, b?: string): void => {
      lines.push(typeof a === 'string' ? { level, bindings, fields: {}, msg: a } : { level, bindings, fields: a, msg: b ?? '' })
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

import { fieldsWithin, MAX_DIAGNOSTICS_BYTES, newestWithin } from './bounds.ts'
import type { Request } from './rpc.ts'

/** What the gateway lends remote diagnostics: recent log lines and the /status JSON. */
export interface Diagnostics {
  logs(n: number): string[]
  status(): Record<string, unknown>
}

/** The answer to a `logs` or `status` request, bounded to MAX_DIAGNOSTICS_BYTES of JSON. */
export function diagnosticsAnswer(r: Request, d: Diagnostics | undefined): Record<string, unknown> {
  if (!d) throw new Error(`${r.op} is not available on this gateway`)
  const bound = MAX_DIAGNOSTICS_BYTES - 512
  if (r.op === 'logs') {
    const { lines, omitted } = newestWithin(d.logs(r.lines ?? 100), bound)
    return { ok: true, state: 'done', lines, ...(omitted > 0 ? { omitted_lines: omitted, bound_bytes: MAX_DIAGNOSTICS_BYTES } : {}) }
  }
  const { value, omitted } = fieldsWithin(d.status(), bound)
  return { ok: true, state: 'done', status: value, ...(omitted.length > 0 ? { omitted_fields: omitted, bound_bytes: MAX_DIAGNOSTICS_BYTES } : {}) }
}

import type { Clock } from '../core/index.ts'

export interface HealthVerdict {
  healthy: boolean
  /** What is not there yet (e.g. "uplink cloud: connecting"), for the log and the rollback reason. */
  waitingFor: string[]
}

export type GateResult = { ok: true; afterMs: number } | { ok: false; waitingFor: string[] }

/**
 * Asks `probe` every `intervalMs` until it says healthy or `deadlineMs` passed since the call. At most
 * deadline/interval + 2 probes. `cancel()` ends the wait (at shutdown) with the last verdict.
 */
export function awaitHealthy(probe: () => HealthVerdict, o: { deadlineMs: number; intervalMs: number; clock: Clock }): { result: Promise<GateResult>; cancel(): void } {
  const started = o.clock.now()
  let timer: ReturnType<Clock['setTimeout']> | null = null
  let settle: (r: GateResult) => void = () => undefined
  let last: HealthVerdict = { healthy: false, waitingFor: ['the first health check'] }
  const result = new Promise<GateResult>((resolve) => (settle = resolve))
  const check = (): void => {
    timer = null
    last = probe()
    const elapsed = o.clock.now() - started
    if (last.healthy) return settle({ ok: true, afterMs: elapsed })
    if (elapsed >= o.deadlineMs) return settle({ ok: false, waitingFor: last.waitingFor })
    timer = o.clock.setTimeout(check, Math.min(o.intervalMs, o.deadlineMs - elapsed))
  }
  check()
  return {
    result,
    cancel: () => {
      if (timer !== null) o.clock.clearTimeout(timer)
      settle({ ok: false, waitingFor: last.waitingFor })
    },
  }
}

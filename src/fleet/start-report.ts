import type { Logger } from '../core/index.ts'
import type { StartState } from './store.ts'

/** Reports once online what the start found in the state directory: an interrupted commit window, a fall-back to the file, notes. */
export function reportStart(s: StartState | undefined, log: Logger, event: (state: string, fields: Record<string, unknown>) => Promise<void>): void {
  if (s?.interrupted) {
    const t = s.interrupted.trial
    const reason =
      s.interrupted.outcome === 'committed'
        ? 'the gateway restarted just after committing; the new config stays'
        : (t.failure ?? 'the gateway restarted during the commit window before the config was committed; it runs the previous config')
    log.warn({ hash: t.hash.slice(0, 12), outcome: s.interrupted.outcome }, reason)
    void event(s.interrupted.outcome, { op: 'config', hash: t.hash, previous_hash: t.previous_hash, reason, after: 'restart' })
  }
  if (s?.fallback) {
    const reason = `committed remote config did not reach health in ${s.fallback.starts} starts; running the config file`
    log.error({ hash: s.fallback.hash.slice(0, 12), starts: s.fallback.starts }, reason)
    void event('rolled_back', { op: 'config', hash: s.fallback.hash, reason, after: 'restart' })
  }
  for (const note of s?.notes ?? []) {
    log.warn({ note }, 'management state on start')
    void event('note', { reason: note })
  }
}

/** How long a cold start on a committed remote config must keep running before it no longer counts as a crash. */
export const COLD_START_SETTLED_MS = 60_000

/**
 * Whether a cold start on a committed remote config has shown that the config does not crash the gateway:
 * as for a commit (the management link online, the required uplinks ok), or simply by running for
 * COLD_START_SETTLED_MS. A committed config had reached the cloud once; a cloud outage later is not its
 * fault, so power cuts during an outage must not drop it back to the config file.
 */
export function coldStartSettled(s: { aliveMs: number; linkOnline: boolean; requiredOk: boolean }): boolean {
  return (s.linkOnline && s.requiredOk) || s.aliveMs >= COLD_START_SETTLED_MS
}

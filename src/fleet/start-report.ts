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

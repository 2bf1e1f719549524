import { realpathSync } from 'node:fs'
import type { Logger, Status } from '../core/index.ts'
import { errorMessage, systemClock } from '../core/index.ts'
import { awaitHealthy, commitTrial, lastOutcome, noteTrialFailure, readTrial, type HealthVerdict, type Outcome } from '../update/index.ts'

/** The gateway's health gate for an update on trial: the store is not down and every uplink is online. */
export function updateHealth(sources: Record<string, Status>): HealthVerdict {
  const waitingFor: string[] = []
  for (const [name, s] of Object.entries(sources)) {
    if (name === 'store' && s.health === 'down') waitingFor.push(`store: ${s.reason ?? 'down'}`)
    if (name === 'broker' && s.health === 'down') waitingFor.push(`broker: ${s.reason ?? 'down'}`)
    if (name.startsWith('uplink:') && s.details.state !== 'online') waitingFor.push(`${name.replace(':', ' ')} ${String(s.details.state)}${s.details.lastError ? ` (${String(s.details.lastError)})` : ''}`)
  }
  return { healthy: waitingFor.length === 0, waitingFor }
}

/** The running executable's real path (a symlink such as /usr/local/bin/fieldgate resolved). */
export function runningExecutable(): string {
  try {
    return realpathSync(process.execPath)
  } catch {
    return process.execPath
  }
}

/** The last update's outcome for the fleet inventory (read each time: a commit writes it after the start). */
export function lastUpdate(exe: string): Outcome | null {
  return lastOutcome(exe)
}

/**
 * At start, after every part started (store open, listeners bound): logs the last update's outcome and,
 * when this executable is an update on trial, waits for the health gate. Healthy within `deadlineMs` →
 * commit; not → the reason is noted for the guard and `restart()` stops the gateway, so the next start
 * puts the previous executable back.
 */
export function startUpdateTrial(o: { exe: string; deadlineMs: number; sources: () => Record<string, Status>; log: Logger; restart: (reason: string) => void }): { cancel(): void } {
  const log = o.log.child({ module: 'update' })
  const last = lastOutcome(o.exe)
  const trial = readTrial(o.exe)
  if (last && !trial) log.info({ ...last }, `last update: version ${last.version} ${last.outcome}`)
  if (!trial) return { cancel: () => undefined }
  log.warn({ version: trial.version, previous: trial.previousVersion, deadlineMs: o.deadlineMs }, `version ${trial.version} is on trial: it commits once healthy, else ${trial.previousVersion} comes back`)
  const gate = awaitHealthy(() => updateHealth(o.sources()), { deadlineMs: o.deadlineMs, intervalMs: 250, clock: systemClock })
  let cancelled = false
  void gate.result.then(async (r) => {
    if (cancelled) return
    try {
      if (r.ok) {
        await commitTrial(o.exe, trial, `healthy ${r.afterMs} ms after start`)
        log.info({ version: trial.version, afterMs: r.afterMs }, `update committed: version ${trial.version} passed its health gate`)
        return
      }
      const reason = `not healthy within ${o.deadlineMs} ms: waiting for ${r.waitingFor.join('; ')}`
      await noteTrialFailure(o.exe, reason)
      log.error({ version: trial.version, reason }, `update failed its health gate; restarting so that ${trial.previousVersion} comes back`)
      o.restart(reason)
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'update: recording the trial outcome failed; restarting so the guard decides')
      o.restart(errorMessage(err))
    }
  })
  return {
    cancel: () => {
      cancelled = true
      gate.cancel()
    },
  }
}

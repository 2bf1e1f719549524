import { basename, dirname, join } from 'node:path'

/** The guard script systemd runs before each start (ExecStartPre); it must sit beside the executable. */
export const GUARD_NAME = 'fieldgate-update-guard'
/**
 * Exit code of a gateway that stops to be restarted into another executable (after an install, or a
 * trial that missed its health deadline). The unit lists it in SuccessExitStatus= (not a failure) and
 * RestartForceExitStatus= (always restarted).
 */
export const RESTART_EXIT_CODE = 75

/** The files of an update beside executable `exe` (all in its directory, so renames are atomic). */
export interface UpdateFiles {
  dir: string
  exe: string
  /** The executable that ran before the last update: what a rollback puts back. */
  previous: string
  /** The new executable while it is copied in, before the swap. */
  incoming: string
  /** Present while a new executable is on trial: key=value lines (version, previous_version, ino, …). */
  trial: string
  /** Made by the guard at the trial's first start: a second start without a commit rolls back. */
  tried: string
  /** The outcome of the last update (committed or rolled-back), for logs and the management channel. */
  result: string
  /** The executable a rollback took out, kept for inspection. */
  failed: string
  guard: string
}

export function updateFiles(exe: string): UpdateFiles {
  const dir = dirname(exe)
  const b = basename(exe)
  return {
    dir,
    exe,
    previous: join(dir, `${b}.previous`),
    incoming: join(dir, `.${b}.incoming`),
    trial: join(dir, `${b}.update`),
    tried: join(dir, `${b}.update-tried`),
    result: join(dir, `${b}.update-result`),
    failed: join(dir, `${b}.failed`),
    guard: join(dir, GUARD_NAME),
  }
}

/** key=value lines, one per key; values never contain a newline. */
export function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

export function formatKv(o: Record<string, string | number>): string {
  return Object.entries(o)
    .map(([k, v]) => `${k}=${String(v).replace(/[\r\n]+/g, ' ')}\n`)
    .join('')
}

import { accessSync, closeSync, constants, fchmodSync, fsyncSync, openSync, readFileSync, statSync } from 'node:fs'
import { copyFile, link, open, rename, rm, statfs, unlink } from 'node:fs/promises'
import { errorMessage, FieldgateError } from '../core/index.ts'
import { hashFile } from './hash-file.ts'
import { refused, type Manifest } from './manifest.ts'
import { syncDir, writeFileAtomic } from './durable-files.ts'
import { formatKv, parseKv, updateFiles, type UpdateFiles } from './files.ts'
import { elfArch } from './verify.ts'

export type InstallStep = 'copying' | 'copied' | 'kept-previous' | 'marked' | 'swapped'

export interface InstallOptions {
  /** The executable to replace: the running one's real path. */
  exe: string
  runningVersion: string
  /** Test hook: called after each step, so a test can kill the process there. */
  onStep?: (step: InstallStep) => void
}

export interface Trial {
  version: string
  previousVersion: string
  installedAt: string
}

export interface Outcome {
  outcome: 'committed' | 'rolled-back'
  version: string
  previousVersion: string
  at: string
  reason: string
}

/**
 * Checks that `file` is exactly what `manifest` describes (size, SHA-256, every chunk) and an executable
 * for its architecture. For a file that did not come through UpdateReceiver (fieldgate update FILE).
 */
export async function verifyFile(file: string, manifest: Manifest): Promise<void> {
  const got = await hashFile(file, manifest.chunkSize).catch((err: unknown) => {
    throw new FieldgateError('UPDATE_FAILED', `update: cannot read ${file}: ${errorMessage(err)}`)
  })
  if (got.size !== manifest.size) throw refused(`${file} has ${got.size} bytes, the manifest of version ${manifest.version} says ${manifest.size}; nothing was installed`)
  if (got.sha256 !== manifest.sha256) throw refused(`${file} does not match the SHA-256 of version ${manifest.version} in the manifest; nothing was installed`)
  const header = Buffer.alloc(20)
  const fh = await open(file, 'r')
  await fh.read(header, 0, 20, 0).finally(() => fh.close())
  const arch = elfArch(header)
  if (arch !== manifest.arch) throw refused(`version ${manifest.version} is signed as ${manifest.arch} but ${file} is ${arch ? `a ${arch} executable` : 'not a Linux executable'}; nothing was installed`)
}

/**
 * Puts a verified executable in place of `exe` so that a runnable executable is there after a kill at
 * any point: copy beside it (fsync) → link the running one as `<exe>.previous` → write the trial marker
 * → rename over `<exe>` (atomic). The caller then stops with RESTART_EXIT_CODE; at the next start the
 * guard (ExecStartPre) counts the trial start, and the new version commits once healthy
 * (commitTrial) or the following start puts `<exe>.previous` back.
 */
export async function installUpdate(file: string, manifest: Manifest, opts: InstallOptions): Promise<{ version: string; previousVersion: string }> {
  const f = updateFiles(opts.exe)
  const step = opts.onStep ?? (() => undefined)
  preflight(f, manifest)
  await freeSpace(f, manifest)
  await rm(f.incoming, { force: true })
  try {
    await copyFile(file, f.incoming)
    step('copying')
    const fd = openSync(f.incoming, 'r+')
    try {
      // rwxr-xr-x: the service user and root run it.
      fchmodSync(fd, 0o755)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    step('copied')
    // The copy may differ from what was verified if the disk is failing: check what will run.
    const copied = await hashFile(f.incoming, manifest.chunkSize)
    if (copied.sha256 !== manifest.sha256) throw new FieldgateError('UPDATE_FAILED', `update: the copy of version ${manifest.version} at ${f.incoming} reads back wrong (a storage fault); nothing was replaced`)
    await rm(`${f.previous}.tmp`, { force: true })
    await link(f.exe, `${f.previous}.tmp`)
    await rename(`${f.previous}.tmp`, f.previous)
    syncDir(f.dir)
    step('kept-previous')
    const ino = statSync(f.incoming).ino
    await writeFileAtomic(f.trial, formatKv({ version: manifest.version, previous_version: opts.runningVersion, ino, sha256: manifest.sha256, installed_at: new Date().toISOString() }))
    await rm(f.tried, { force: true })
    step('marked')
    await rename(f.incoming, f.exe)
    syncDir(f.dir)
    step('swapped')
  } catch (err) {
    await rm(f.incoming, { force: true }).catch(() => undefined)
    // Before the swap a marker names an inode that is not in place: the guard drops it; drop it now.
    if (readTrialFile(f)?.ino !== String(safeIno(f.exe))) await rm(f.trial, { force: true }).catch(() => undefined)
    if (err instanceof FieldgateError) throw err
    throw new FieldgateError('UPDATE_FAILED', `update: installing version ${manifest.version} beside ${f.exe} failed (${errorMessage(err)}); the running executable was not replaced`, { cause: err })
  }
  return { version: manifest.version, previousVersion: opts.runningVersion }
}

/** The trial in progress for `exe`, when the executable in place is the one the marker names. */
export function readTrial(exe: string): Trial | null {
  const f = updateFiles(exe)
  const t = readTrialFile(f)
  if (!t || t.ino !== String(safeIno(f.exe))) return null
  return { version: t.version ?? '?', previousVersion: t.previous_version ?? '?', installedAt: t.installed_at ?? '?' }
}

/** The new executable passed its health gate: record the outcome, then remove the marker (the commit point). */
export async function commitTrial(exe: string, trial: Trial, reason: string): Promise<void> {
  const f = updateFiles(exe)
  await writeFileAtomic(f.result, formatKv({ outcome: 'committed', version: trial.version, previous_version: trial.previousVersion, at: new Date().toISOString(), reason }))
  await unlink(f.trial)
  await rm(f.tried, { force: true })
  syncDir(f.dir)
}

/** Notes why the trial failed in its marker, for the guard to put in the outcome when it rolls back. */
export async function noteTrialFailure(exe: string, reason: string): Promise<void> {
  const f = updateFiles(exe)
  const t = readTrialFile(f)
  if (!t) return
  await writeFileAtomic(f.trial, formatKv({ ...t, failure: reason }))
}

/** The outcome of the last update of `exe`, or null. */
export function lastOutcome(exe: string): Outcome | null {
  let text: string
  try {
    text = readFileSync(updateFiles(exe).result, 'utf8')
  } catch {
    return null
  }
  const o = parseKv(text)
  if (o.outcome !== 'committed' && o.outcome !== 'rolled-back') return null
  return { outcome: o.outcome, version: o.version ?? '?', previousVersion: o.previous_version ?? '?', at: o.at ?? '?', reason: o.reason ?? '' }
}

/**
 * What installUpdate refuses up front (no guard beside `exe`, its directory not writable, another version
 * still on trial): checked before a download over the management channel starts, so a gateway that could
 * not install says so at once and nothing is fetched.
 */
export function checkInstallable(exe: string, manifest: Manifest): void {
  preflight(updateFiles(exe), manifest)
}

function preflight(f: UpdateFiles, manifest: Manifest): void {
  try {
    accessSync(f.guard, constants.X_OK)
  } catch {
    throw refused(`the rollback guard ${f.guard} is missing, so a failed start could not be undone; install with hardware/install.sh (its unit runs the guard before each start)`)
  }
  try {
    accessSync(f.dir, constants.W_OK)
  } catch {
    throw refused(`${f.dir} is not writable by this user; the unit must list it in ReadWritePaths= and install.sh gives it to the service group`)
  }
  const t = readTrial(f.exe)
  if (t) throw refused(`version ${t.version} is still on trial (installed ${t.installedAt}); version ${manifest.version} can follow once it is committed or rolled back`)
}

async function freeSpace(f: UpdateFiles, manifest: Manifest): Promise<void> {
  const s = await statfs(f.dir).catch(() => null)
  if (s && s.bavail * s.bsize < manifest.size) {
    throw new FieldgateError('UPDATE_DISK_FULL', `update: version ${manifest.version} needs ${manifest.size} bytes in ${f.dir}, only ${s.bavail * s.bsize} are free; free space and try again`)
  }
}

function readTrialFile(f: UpdateFiles): Record<string, string> | null {
  try {
    return parseKv(readFileSync(f.trial, 'utf8'))
  } catch {
    return null
  }
}

function safeIno(path: string): number | null {
  try {
    return statSync(path).ino
  } catch {
    return null
  }
}

import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** sha256 of a config text, hex: names a config in inventory, replies and file names. */
export function configHash(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Writes `data` so a reader (or a restart after a power cut) sees the old file or the new one, never a part. */
export function writeAtomic(path: string, data: string, mode = 0o600): void {
  const dir = dirname(path)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`)
  const fd = openSync(tmp, 'w', mode)
  try {
    writeSync(fd, data)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  fsyncDir(dir)
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** The config the gateway runs instead of its config file, until that file changes. */
export interface Committed {
  /** File name under configs/. */
  file: string
  hash: string
  /** Hash of the config file (the base) when this was committed: a local edit of the file wins. */
  base_hash: string
  committed_at: string
}

/** Written before a pushed config is applied, removed once it is committed or rolled back. */
export interface Trial {
  file: string
  hash: string
  previous_hash: string
  started_at: string
  deadline_ms: number
  /**
   * Set when the window ended rolled back but the process must exit before its reply can leave (the
   * previous config did not re-apply): the next start reports `rolled_back` with this reason.
   */
  failure?: string
}

/** What a restart found in the state directory and did about it. */
export interface StartState {
  text: string
  source: 'file' | 'remote'
  committed: Committed | null
  /** A commit window a crash or kill interrupted, with what became of it. */
  interrupted: { trial: Trial; outcome: 'committed' | 'rolled_back' } | null
  /** This cold start of the committed remote config was counted: clear it once healthy (clearColdStarts). */
  counted: boolean
  /** The committed remote config was dropped: it did not reach health in `starts` cold starts. */
  fallback: { hash: string; starts: number } | null
  notes: string[]
}

/** Cold starts of a committed remote config that never reached health before the config file runs instead. */
export const MAX_UNHEALTHY_STARTS = 3

/**
 * `<data_dir>/fleet/`: `configs/<time>-<hash>.toml` (the last N pushed configs, mode 0600: they hold
 * what the config file holds), `committed.json`, and `trial.json` during a commit window.
 */
export class FleetStore {
  readonly configsDir: string

  constructor(
    readonly dir: string,
    private keep: number,
  ) {
    this.configsDir = join(dir, 'configs')
  }

  setKeep(n: number): void {
    this.keep = n
  }

  saveConfig(text: string, hash: string, now = Date.now()): string {
    const file = `${String(now).padStart(15, '0')}-${hash.slice(0, 12)}.toml`
    writeAtomic(join(this.configsDir, file), text)
    return file
  }

  readConfig(file: string): string {
    return readFileSync(join(this.configsDir, basename(file)), 'utf8')
  }

  beginTrial(t: Trial): void {
    writeAtomic(join(this.dir, 'trial.json'), JSON.stringify(t))
  }

  endTrial(): void {
    rmSync(join(this.dir, 'trial.json'), { force: true })
    fsyncDir(this.dir)
  }

  /** `update-reported.json`: the time of the last update outcome reported on the events topic, so each is reported once. */
  readReportedUpdate(): string | null {
    try {
      const v: unknown = JSON.parse(readFileSync(join(this.dir, 'update-reported.json'), 'utf8'))
      return typeof v === 'object' && v !== null && typeof (v as { at?: unknown }).at === 'string' ? (v as { at: string }).at : null
    } catch {
      return null
    }
  }

  writeReportedUpdate(at: string): void {
    writeAtomic(join(this.dir, 'update-reported.json'), JSON.stringify({ at }))
  }

  /** The commit point: once committed.json names the new config, a restart runs it. */
  commit(c: Committed): void {
    writeAtomic(join(this.dir, 'committed.json'), JSON.stringify(c))
  }

  /**
   * `cold-starts.json`: starts of the committed remote config `hash` that did not reach health yet.
   * Written before the health gate at each cold start, removed once healthy.
   */
  readColdStarts(): { hash: string; starts: number } | null {
    return readJson<{ hash: string; starts: number }>(join(this.dir, 'cold-starts.json'), (v) => typeof v.hash === 'string' && typeof v.starts === 'number')
  }

  clearColdStarts(): void {
    rmSync(join(this.dir, 'cold-starts.json'), { force: true })
  }

  uncommit(): void {
    rmSync(join(this.dir, 'committed.json'), { force: true })
  }

  readCommitted(): Committed | null {
    return readJson<Committed>(join(this.dir, 'committed.json'), (v) => typeof v.file === 'string' && typeof v.hash === 'string' && typeof v.base_hash === 'string')
  }

  readTrial(): Trial | null {
    return readJson<Trial>(join(this.dir, 'trial.json'), (v) => typeof v.file === 'string' && typeof v.hash === 'string')
  }

  /** Kept configs, oldest first. */
  list(): string[] {
    try {
      return readdirSync(this.configsDir).filter((f) => f.endsWith('.toml')).sort()
    } catch {
      return []
    }
  }

  /** Drops all but the newest `keep` configs; the committed one and any in trial stay. */
  prune(): void {
    const pinned = new Set([this.readCommitted()?.file, this.readTrial()?.file])
    const all = this.list()
    for (const f of all.slice(0, Math.max(0, all.length - this.keep))) if (!pinned.has(f)) rmSync(join(this.configsDir, f), { force: true })
  }

  /**
   * Decides which config a (re)start runs. The committed remote config wins while the config file is
   * unchanged since it was committed; an edited file wins over it (and the stale commit is dropped). A
   * commit window interrupted by a crash ends here: committed if committed.json already names it,
   * otherwise rolled back, as the previous config is what runs.
   */
  resolve(baseText: string, opts: { coldStart?: boolean } = {}): StartState {
    const notes: string[] = []
    let committed = this.readCommitted()
    let text = baseText
    let source: StartState['source'] = 'file'
    let counted = false
    let fallback: StartState['fallback'] = null
    if (committed && opts.coldStart) {
      // A committed config that crashes the gateway at start would otherwise be restarted until the
      // service manager gives up: after MAX_UNHEALTHY_STARTS starts that never reached health, the file runs.
      const cold = this.readColdStarts()
      const starts = cold?.hash === committed.hash ? cold.starts : 0
      if (starts >= MAX_UNHEALTHY_STARTS) {
        notes.push(`committed remote config ${committed.hash.slice(0, 12)} did not reach health in ${starts} starts: running the config file`)
        fallback = { hash: committed.hash, starts }
        this.uncommit()
        this.clearColdStarts()
        committed = null
      }
    }
    if (committed) {
      if (committed.base_hash !== configHash(baseText)) {
        notes.push(`the config file changed since remote config ${committed.hash.slice(0, 12)} was committed: the file wins`)
        this.uncommit()
        committed = null
      } else {
        try {
          const remote = this.readConfig(committed.file)
          if (configHash(remote) !== committed.hash) throw new Error(`${committed.file} does not match its hash`)
          text = remote
          source = 'remote'
        } catch (err) {
          notes.push(`committed remote config unreadable (${(err as Error).message}): running the config file`)
          this.uncommit()
          committed = null
        }
      }
    }
    if (committed && opts.coldStart && source === 'remote') {
      const cold = this.readColdStarts()
      writeAtomic(join(this.dir, 'cold-starts.json'), JSON.stringify({ hash: committed.hash, starts: (cold?.hash === committed.hash ? cold.starts : 0) + 1 }))
      counted = true
    }
    const trial = this.readTrial()
    let interrupted: StartState['interrupted'] = null
    if (trial) {
      interrupted = { trial, outcome: committed?.hash === trial.hash ? 'committed' : 'rolled_back' }
      this.endTrial()
    }
    return { text, source, committed, interrupted, counted, fallback, notes }
  }
}

function readJson<T>(path: string, ok: (v: Record<string, unknown>) => boolean): T | null {
  let raw: string
  try {
    raw = readFileSync(path, 'utf8')
  } catch {
    return null
  }
  try {
    const v: unknown = JSON.parse(raw)
    return v && typeof v === 'object' && ok(v as Record<string, unknown>) ? (v as T) : null
  } catch {
    return null
  }
}

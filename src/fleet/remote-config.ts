import { errorMessage, redactText, systemClock, type Clock, type Health, type Logger, type TimerHandle } from '../core/index.ts'
import type { LinkSpec, MgmtLink } from './link.ts'
import { configHash, type FleetStore, type Trial } from './store.ts'

/** One line of `fieldgate check`'s output. */
export interface CheckLine {
  name: string
  ok: boolean
  detail: string
}

export type Validation<C> = { ok: true; config: C; checks: CheckLine[] } | { ok: false; reason: string; checks: CheckLine[] }

/** What the gateway lends the remote configuration: its checks, its transactional reload, its health. */
export interface ConfigHost<C> {
  /** Validates as `fieldgate check` does; `label` names the text in messages. */
  validate(text: string, label: string): Promise<Validation<C>>
  /** The transactional reload: all or nothing; a refusal leaves the running config in place. */
  apply(next: C): Promise<{ ok: boolean; reason?: string }>
  /** How the management link connects under a config. */
  linkSpec(c: C): LinkSpec
  /** Health of every part now. */
  health(): Record<string, { health: Health; reason?: string }>
  /** The parts that must be healthy under `c` for it to commit (its uplinks). */
  required(c: C): string[]
  /** Hash of the config file now (taken when a push starts and recorded by its commit: a later edit of the file wins). */
  baseHash(): string
  /** The config text a merge patch (RFC 7386, JSON) makes of `text`; throws with why it cannot be made. */
  patch(text: string, patch: unknown): string
  /** Last resort when the previous config cannot be re-applied: exit, so the service restarts on it. */
  restart(reason: string): void
}

export interface Current<C> {
  text: string
  hash: string
  config: C
  source: 'file' | 'remote'
  committedAt: string | null
}

export type Outcome =
  | { state: 'committed'; hash: string; previous_hash: string; took_ms: number; detail?: string }
  | { state: 'unchanged'; hash: string }
  | { state: 'refused'; reason: string; checks?: CheckLine[] }
  | { state: 'rolled_back'; reason: string; hash: string; previous_hash: string; took_ms: number }

/** Poll period of the commit gate; the deadline bounds the loop. */
const GATE_POLL_MS = 200

/**
 * Remote configuration: validate as check does, stage on disk, apply with the transactional reload,
 * then commit only when the management link is back online with the new settings and the required
 * parts are healthy within the deadline; otherwise re-apply the previous config by itself.
 */
export class RemoteConfig<C> {
  private busy = false
  /** Set by abort(): the gateway is stopping, a commit window in progress ends without a commit. */
  private aborted = false
  private wake: (() => void) | null = null

  constructor(
    public current: Current<C>,
    private readonly host: ConfigHost<C>,
    private readonly link: MgmtLink,
    private readonly store: FleetStore,
    private readonly log: Logger,
    private readonly event: (state: string, fields: Record<string, unknown>) => Promise<void>,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * The gateway is stopping: a commit window in progress ends now, uncommitted. Its trial marker stays,
   * so the next start runs the previous config and reports the roll-back (as after a crash).
   */
  abort(): void {
    this.aborted = true
    this.wake?.()
  }

  get inTrial(): boolean {
    return this.busy
  }

  async push(text: string, deadlineMs: number, ref: Record<string, unknown>): Promise<Outcome> {
    if (this.aborted) return { state: 'refused', reason: 'the gateway is stopping' }
    if (this.busy) return { state: 'refused', reason: 'another config is being tried; wait for its outcome on the events topic' }
    this.busy = true
    try {
      return await this.tryConfig(text, deadlineMs, ref)
    } catch (err) {
      const reason = redactText(errorMessage(err))
      this.log.error({ err: reason }, 'remote config: unexpected failure')
      return { state: 'refused', reason }
    } finally {
      this.busy = false
    }
  }

  private async tryConfig(text: string, deadlineMs: number, ref: Record<string, unknown>): Promise<Outcome> {
    // The config file as the push found it: the commit is recorded against it, so an edit of the file
    // during the commit window (a technician on site) wins at the next reload or restart.
    const base = this.host.baseHash()
    const hash = configHash(text)
    const short = hash.slice(0, 12)
    const v = await this.host.validate(text, `remote config ${short}`)
    if (!v.ok) return { state: 'refused', reason: redactText(v.reason), checks: v.checks.map((c) => ({ ...c, detail: redactText(c.detail) })) }
    if (hash === this.current.hash) return { state: 'unchanged', hash }
    const prev = this.current
    const started = this.clock.now()
    const file = this.store.saveConfig(text, hash)
    const trial: Trial = { file, hash, previous_hash: prev.hash, started_at: new Date(started).toISOString(), deadline_ms: deadlineMs }
    this.store.beginTrial(trial)
    const before = this.host.health()
    // Said before the link goes down for the new settings, and acknowledged by the cloud.
    await this.event('applying', { ...ref, hash, previous_hash: prev.hash, deadline_ms: deadlineMs })
    const applied = await this.host.apply(v.config)
    if (!applied.ok) {
      this.store.endTrial()
      return { state: 'refused', reason: `the reload refused it, nothing changed: ${redactText(applied.reason ?? 'no reason given')}` }
    }
    const gen = this.link.reconfigure(this.host.linkSpec(v.config))
    this.log.warn({ hash: short, deadlineMs }, 'remote config applied; commits once the management link and uplinks are healthy on it')
    const gate = await this.waitHealthy(v.config, gen, before, started + deadlineMs)
    if (this.aborted) {
      return { state: 'rolled_back', reason: 'the gateway stopped during the commit window; it starts again on the previous config', hash, previous_hash: prev.hash, took_ms: this.clock.now() - started }
    }
    if (gate.ok) {
      const committedAt = new Date(this.clock.now()).toISOString()
      this.store.commit({ file, hash, base_hash: base, committed_at: committedAt })
      this.store.endTrial()
      this.store.prune()
      this.current = { text, hash, config: v.config, source: 'remote', committedAt }
      const took = this.clock.now() - started
      if (this.host.baseHash() !== base) {
        const detail = 'the config file changed during the commit window: the edit wins over this config at the next reload (SIGHUP) or restart'
        this.log.warn({ hash: short }, `remote config committed, but ${detail}`)
        return { state: 'committed', hash, previous_hash: prev.hash, took_ms: took, detail }
      }
      return { state: 'committed', hash, previous_hash: prev.hash, took_ms: took }
    }
    const reason = `not healthy within ${deadlineMs} ms: ${gate.reason}`
    this.log.error({ hash: short, reason }, 'remote config failed its commit gate; rolling back to the previous config')
    void this.event('rolling_back', { ...ref, hash, reason })
    const back = await this.host.apply(prev.config)
    this.link.reconfigure(this.host.linkSpec(prev.config))
    if (!back.ok) {
      const why = `rollback could not re-apply the previous config (${redactText(back.reason ?? '')}); restarting on it`
      // The process exits before the reply below can leave: the trial record stays, with the outcome,
      // so the next start reports rolled_back upstream with this reason.
      this.store.beginTrial({ ...trial, failure: `${reason}; ${why}` })
      void this.event('restarting', { ...ref, hash, reason: why })
      this.host.restart(why)
      return { state: 'rolled_back', reason: `${reason}; ${why}`, hash, previous_hash: prev.hash, took_ms: this.clock.now() - started }
    }
    this.store.endTrial()
    this.store.prune()
    return { state: 'rolled_back', reason, hash, previous_hash: prev.hash, took_ms: this.clock.now() - started }
  }

  /** Polls until healthy, the deadline, or abort(); bounded by the deadline. */
  private waitHealthy(c: C, gen: number, before: Record<string, { health: Health }>, until: number): Promise<{ ok: true } | { ok: false; reason: string }> {
    return new Promise((resolve) => {
      let timer: TimerHandle | null = null
      const done = (r: { ok: true } | { ok: false; reason: string }): void => {
        if (timer) this.clock.clearTimeout(timer)
        this.wake = null
        resolve(r)
      }
      this.wake = () => done({ ok: false, reason: 'stopping' })
      const tick = (): void => {
        if (this.aborted) return done({ ok: false, reason: 'stopping' })
        const problem = this.problem(c, gen, before)
        if (problem === null) return done({ ok: true })
        if (this.clock.now() >= until) return done({ ok: false, reason: problem })
        timer = this.clock.setTimeout(tick, Math.min(GATE_POLL_MS, Math.max(1, until - this.clock.now())))
      }
      tick()
    })
  }

  /** Why `c` may not commit yet, or null. */
  private problem(c: C, gen: number, before: Record<string, { health: Health }>): string | null {
    const why: string[] = []
    if (!this.link.onlineWith(gen)) why.push(`management link not back online${this.link.lastError ? ` (${this.link.lastError})` : ''}`)
    const now = this.host.health()
    for (const name of this.host.required(c)) {
      const s = now[name]
      if (!s || s.health !== 'ok') why.push(`${name} ${s ? `${s.health}${s.reason ? ` (${s.reason})` : ''}` : 'missing'}`)
    }
    // Whatever was healthy before the change must be healthy again (parts the config removed are gone).
    for (const [name, s] of Object.entries(now)) {
      if (s.health !== 'ok' && before[name]?.health === 'ok' && !why.some((w) => w.startsWith(`${name} `))) why.push(`${name} ${s.health}${s.reason ? ` (${s.reason})` : ''}`)
    }
    return why.length === 0 ? null : redactText(why.join('; '))
  }
}

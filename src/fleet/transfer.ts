import { randomBytes } from 'node:crypto'
import { errorMessage, redactText, systemClock, type Clock, type Logger, type TimerHandle } from '../core/index.ts'
import type { MgmtLink } from './link.ts'
import { chunkOf, sharedTransferTopic, transferId, type MgmtTopics } from './topics.ts'
import { WantPlan, type WantReason } from './want-plan.ts'

/** What the gateway knows of an accepted update: enough to name its transfer and count its chunks. */
export interface TransferPlan {
  version: string
  sha256: string
  size: number
  chunkSize: number
  chunks: number
}

export type ChunkOutcome = { kind: 'written' | 'duplicate'; complete: boolean } | { kind: 'refused'; reason: string }

/** What the gateway lends the update transfer: its receiver, checks and install (src/update), and its restart. */
export interface UpdateHost {
  /** A download found on disk at start (resumed after an outage, a crash or a restart), or null. */
  resume(): Promise<{ plan: TransferPlan; install: boolean } | null>
  /**
   * Checks a signed manifest against this gateway (trusted key, architecture, size, no unsigned
   * downgrade; to install, also the install preconditions) and starts or resumes its download.
   * Throws with one line when refused: nothing changes then. `unchanged`: that update is what runs.
   */
  announce(manifestText: string, install: boolean): Promise<{ plan: TransferPlan; resumed: boolean; unchanged: boolean }>
  /** Checks chunk `index` against its signed hash and writes it; `refused`: nothing was written. */
  chunk(index: number, bytes: Buffer): Promise<ChunkOutcome>
  /** Chunk indices still missing, ascending, at most `max`. */
  missing(max: number): number[]
  /** Chunks on disk. */
  have(): number
  /** Reads the whole download back and verifies it; to install, puts it beside the running executable on trial. Throws with one line. */
  finish(install: boolean): Promise<void>
  /** Stops the gateway with the restart exit code (75), so the service manager starts the new executable on trial. */
  restart(reason: string): void
}

type State = 'receiving' | 'verifying' | 'installed' | 'staged'

interface Active {
  id: string
  plan: TransferPlan
  install: boolean
  state: State
  wants: WantPlan
  /** Chunk messages taken in this process (written, duplicate or refused), and the last one from the shared topic. */
  got: number
  last: number
  reportedGot: number
  reportedAt: number
  refusedEvents: number
}

/** Progress is reported after this many chunk messages, or this long after the last report. */
const REPORT_EVERY = 8
const REPORT_MS = 1000
/** Refused chunks reported on the events topic per transfer; the rest are counted in the progress. */
const MAX_REFUSED_EVENTS = 5
/** A new config or install waits at most this long for a commit window in progress to end. */
const WAIT_FOR_CONFIG_MS = 15 * 60_000

/**
 * The gateway's side of an update over the management channel (docs/fleet.md, "Updates over the
 * management channel"): an announce (the signed manifest) is checked, the gateway subscribes to the
 * update's shared transfer topic and takes the chunks it lacks as they come, written to disk before the
 * next message is read; it reports progress, asks for what it still misses when the stream stops, after
 * a reconnect or a refused chunk, and once complete verifies, installs and restarts with 75.
 */
export class UpdateTransfer {
  private active: Active | null = null
  private timer: TimerHandle | null = null
  /** Names this process's connection in progress reports: a new one tells the operator that what was in flight is lost. */
  private readonly epoch = randomBytes(4).toString('hex')
  private session = 0

  constructor(
    private readonly host: UpdateHost,
    private readonly link: MgmtLink,
    private readonly topics: MgmtTopics,
    private readonly log: Logger,
    private readonly event: (state: string, fields: Record<string, unknown>) => Promise<void>,
    /** True while a pushed config is in its commit window: an install waits for its end. */
    private readonly configBusy: () => boolean,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Resumes a download found on disk and starts the progress and request timer. */
  async start(): Promise<void> {
    this.timer = this.clock.setInterval(() => this.tick(), 250)
    this.timer.unref?.()
    try {
      const found = await this.host.resume()
      if (found) {
        this.log.warn({ version: found.plan.version, have: this.host.have(), chunks: found.plan.chunks }, 'update: resuming the download found on disk')
        await this.begin(found.plan, found.install)
        // What was sent while this process was down is lost: ask at once.
        this.active?.wants.reconnected(this.clock.now())
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'update: the download found on disk cannot be resumed; it was dropped')
    }
  }

  stop(): void {
    if (this.timer) this.clock.clearInterval(this.timer)
    this.timer = null
  }

  /** True from the moment a complete download is verified until the process exits: no config may start then. */
  get installing(): boolean {
    return this.active !== null && (this.active.state === 'verifying' || this.active.state === 'installed') && this.active.install
  }

  isChunkTopic(topic: string): boolean {
    return chunkOf(this.topics, topic) !== null
  }

  /** An announce (`update` request): the reply's fields. */
  async announce(manifest: string, install: boolean, ref: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.active && this.active.state === 'verifying') return { ok: false, state: 'refused', reason: `version ${this.active.plan.version} is being verified and installed; announce again once it reported its outcome` }
    if (this.installing) return { ok: false, state: 'refused', reason: `version ${this.active?.plan.version} is installed and the gateway is restarting into it` }
    let r: Awaited<ReturnType<UpdateHost['announce']>>
    try {
      r = await this.host.announce(manifest, install)
    } catch (err) {
      const reason = redactText(errorMessage(err)).replace(/\s*\n\s*/g, '; ')
      this.log.error({ ...ref, reason }, 'update refused')
      void this.event('refused', { ...ref, reason })
      return { ok: false, state: 'refused', reason }
    }
    const { plan } = r
    if (r.unchanged) {
      void this.event('unchanged', { ...ref, version: plan.version })
      return { ok: true, state: 'unchanged', version: plan.version, reason: `this gateway runs version ${plan.version} (sha256 ${plan.sha256.slice(0, 12)}) already` }
    }
    await this.begin(plan, install)
    const a = this.active as Active
    const missing = this.host.missing(Number.MAX_SAFE_INTEGER)
    const fields = { version: plan.version, transfer: a.id, topic: sharedTransferTopic(a.id), chunks: plan.chunks, chunk_size: plan.chunkSize, have: plan.chunks - missing.length, resumed: r.resumed, install }
    this.log.warn({ ...ref, ...fields, topic: undefined }, `update: receiving version ${plan.version}`)
    void this.event('receiving', { ...ref, ...fields })
    return { ok: true, state: 'receiving', ...fields, missing: ranges(missing, 1000) }
  }

  /** One chunk message (shared or addressed to this gateway), handled before the next is read. */
  async onChunk(topic: string, payload: Buffer): Promise<void> {
    const c = chunkOf(this.topics, topic)
    const a = this.active
    if (!c || !a || c.transfer !== a.id || a.state !== 'receiving') return
    let r: ChunkOutcome
    try {
      r = await this.host.chunk(c.index, payload)
    } catch (err) {
      // The receiver dropped the download (a full disk, a write error): say so, nothing is left to resume.
      const reason = redactText(errorMessage(err))
      this.log.error({ version: a.plan.version, reason }, 'update: the download failed')
      void this.event('failed', { op: 'update', version: a.plan.version, reason })
      this.end()
      return
    }
    a.got++
    const now = this.clock.now()
    if (topic.startsWith(sharedTransferTopic(a.id))) {
      a.last = c.index
      a.wants.heard(now)
    }
    if (r.kind === 'refused') {
      a.wants.refused(c.index)
      if (a.refusedEvents++ < MAX_REFUSED_EVENTS) {
        this.log.warn({ index: c.index, reason: r.reason }, 'update: chunk refused; it is asked for again')
        void this.event('chunk_refused', { op: 'update', version: a.plan.version, index: c.index, reason: r.reason })
      }
    } else if (r.kind === 'written') a.wants.written(c.index, now)
    if (r.kind !== 'refused' && r.complete) {
      this.report(a, now)
      void this.finish(a)
      return
    }
    if (a.got - a.reportedGot >= REPORT_EVERY || now - a.reportedAt >= REPORT_MS) this.report(a, now)
  }

  /** The management link is back: the chunks sent meanwhile are lost (clean session), so ask for what is missing at once. */
  onOnline(): void {
    this.session++
    const a = this.active
    if (a) a.last = -1
    if (a?.state === 'receiving') a.wants.reconnected(this.clock.now())
  }

  /** For the inventory: the download in progress or staged, or null. */
  status(): Record<string, unknown> | null {
    const a = this.active
    if (!a) return null
    return { version: a.plan.version, transfer: a.id, state: a.state, have: this.host.have(), chunks: a.plan.chunks, install: a.install }
  }

  private async begin(plan: TransferPlan, install: boolean): Promise<void> {
    const id = transferId(plan.sha256)
    if (this.active && this.active.id !== id) this.link.unsubscribe(sharedTransferTopic(this.active.id))
    const now = this.clock.now()
    this.active = { id, plan, install, state: 'receiving', wants: new WantPlan(now), got: 0, last: -1, reportedGot: 0, reportedAt: 0, refusedEvents: 0 }
    // Subscribed before the announce is answered: the operator's broadcast follows the answer.
    await this.link.subscribe(`${sharedTransferTopic(id)}/+`)
    if (this.host.have() === plan.chunks) void this.finish(this.active)
  }

  private end(): void {
    const a = this.active
    if (a) this.link.unsubscribe(`${sharedTransferTopic(a.id)}/+`)
    this.active = null
  }

  private tick(): void {
    const a = this.active
    if (!a || a.state !== 'receiving' || !this.link.online) return
    const now = this.clock.now()
    const ask = a.wants.next(now, (max) => this.host.missing(max))
    if (ask) this.want(a, ask.indices, ask.reason, now)
    else if (now - a.reportedAt >= 2 * REPORT_MS && a.got > a.reportedGot) this.report(a, now)
  }

  private report(a: Active, now: number, missing?: number[], reason?: WantReason): void {
    a.reportedAt = now
    a.reportedGot = a.got
    const body = { transfer: a.id, version: a.plan.version, have: this.host.have(), chunks: a.plan.chunks, got: a.got, last: a.last, session: `${this.epoch}.${this.session}`, ...(missing ? { missing: ranges(missing, 64), reason } : {}) }
    // Progress is QoS 0 and never kept while offline; a request for chunks is QoS 1.
    if (missing) this.link.publish(this.topics.transfer, Buffer.from(JSON.stringify(body)), { qos: 1, retain: false })
    else if (this.link.online) this.link.publish(this.topics.transfer, Buffer.from(JSON.stringify(body)), { qos: 0, retain: false })
  }

  private want(a: Active, indices: number[], reason: WantReason, now: number): void {
    if (indices.length === 0) return
    this.log.debug({ count: indices.length, first: indices[0], reason }, 'update: asking for missing chunks')
    this.report(a, now, indices, reason)
  }

  private async finish(a: Active): Promise<void> {
    if (a.state !== 'receiving') return
    a.state = 'verifying'
    const v = a.plan.version
    try {
      // An install restarts the gateway: let a config in its commit window end first (bounded).
      const until = this.clock.now() + WAIT_FOR_CONFIG_MS
      while (a.install && this.configBusy() && this.clock.now() < until) await new Promise<void>((r) => this.clock.setTimeout(r, 500))
      await this.host.finish(a.install)
    } catch (err) {
      const reason = redactText(errorMessage(err))
      if (this.active === a && this.host.have() < a.plan.chunks) {
        // Chunks read back wrong (a storage fault): they are missing again and asked for.
        a.state = 'receiving'
        a.wants.reconnected(this.clock.now())
        this.log.error({ version: v, reason }, 'update: verification failed; the chunks that read back wrong are asked for again')
        void this.event('chunk_refused', { op: 'update', version: v, reason })
        return
      }
      this.log.error({ version: v, reason }, 'update failed; nothing was installed')
      void this.event('failed', { op: 'update', version: v, reason })
      if (this.active === a) this.end()
      return
    }
    this.link.unsubscribe(`${sharedTransferTopic(a.id)}/+`)
    if (!a.install) {
      a.state = 'staged'
      this.log.warn({ version: v }, `update: version ${v} received and verified (staged; announce it with install to install it)`)
      void this.event('staged', { op: 'update', version: v, transfer: a.id })
      return
    }
    a.state = 'installed'
    this.log.warn({ version: v }, `update: version ${v} installed; restarting into it`)
    // Acknowledged by the cloud before the process stops (bounded by publishAcked's timeout).
    await this.event('installed', { op: 'update', version: v, transfer: a.id, restarting: true })
    this.host.restart(`update to version ${v} installed`)
  }
}

/** Ascending indices as `[first, count]` runs, at most `max` of them. */
export function ranges(indices: readonly number[], max: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (const i of indices) {
    const last = out[out.length - 1]
    if (last && last[0] + last[1] === i) last[1]++
    else if (out.length >= max) break
    else out.push([i, 1])
  }
  return out
}

import { randomBytes } from 'node:crypto'
import { errorMessage, redactText, redactUrl, systemClock, type Clock, type Logger, type TimerHandle } from '../core/index.ts'
import type { MgmtLink } from './link.ts'
import { chunkOf, sharedTransferTopic, transferId, type MgmtTopics } from './topics.ts'
import type { ChunkOutcome, TransferPlan, UpdateHost } from './update-host.ts'
import { UrlSource } from './url-source.ts'
import { WantPlan, type WantReason } from './want-plan.ts'

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
  /** The HTTPS URL the bytes come from (instead of MQTT), and its download while it runs. */
  url?: string
  source: UrlSource | null
}

/** The subscription to an update's shared chunks. */
const sharedFilter = (id: string): string => `${sharedTransferTopic(id)}/+`

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
        await this.begin(found.plan, found.install, found.url)
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
    this.active?.source?.stop()
  }

  /** True from the moment a complete download is verified until the process exits: no config may start then. */
  get installing(): boolean {
    return this.active !== null && (this.active.state === 'verifying' || this.active.state === 'installed') && this.active.install
  }

  isChunkTopic(topic: string): boolean {
    return chunkOf(this.topics, topic) !== null
  }

  /** An announce (`update` request): the reply's fields. */
  async announce(manifest: string, install: boolean, url: string | undefined, ref: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.active && this.active.state === 'verifying') return { ok: false, state: 'refused', reason: `version ${this.active.plan.version} is being verified and installed; announce again once it reported its outcome` }
    if (this.installing) return { ok: false, state: 'refused', reason: `version ${this.active?.plan.version} is installed and the gateway is restarting into it` }
    let r: Awaited<ReturnType<UpdateHost['announce']>>
    try {
      r = await this.host.announce(manifest, install, url)
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
    await this.begin(plan, install, url)
    const a = this.active as Active
    const missing = this.host.missing(Number.MAX_SAFE_INTEGER)
    const from = url ? { url: redactUrl(url) } : { topic: sharedTransferTopic(a.id) }
    const fields = { version: plan.version, transfer: a.id, ...from, chunks: plan.chunks, chunk_size: plan.chunkSize, have: plan.chunks - missing.length, resumed: r.resumed, install }
    this.log.warn({ ...ref, ...fields, topic: undefined }, `update: receiving version ${plan.version}`)
    void this.event('receiving', { ...ref, ...fields })
    return { ok: true, state: 'receiving', ...fields, missing: ranges(missing, 1000) }
  }

  /** One chunk message (shared or addressed to this gateway), handled before the next is read. */
  async onChunk(topic: string, payload: Buffer): Promise<void> {
    const c = chunkOf(this.topics, topic)
    const a = this.active
    if (!c || !a || c.transfer !== a.id || a.source) return
    await this.take(a, c.index, payload, topic.startsWith(sharedTransferTopic(a.id)))
  }

  /** Checks and writes one chunk; false once the transfer takes no more (ended, complete, failed). */
  private async take(a: Active, index: number, payload: Buffer, shared: boolean): Promise<boolean> {
    if (this.active !== a || a.state !== 'receiving') return false
    let r: ChunkOutcome
    try {
      r = await this.host.chunk(index, payload)
    } catch (err) {
      // The receiver dropped the download (a full disk, a write error): say so, nothing is left to resume.
      this.fail(a, redactText(errorMessage(err)))
      return false
    }
    a.got++
    const now = this.clock.now()
    if (shared) {
      a.last = index
      a.wants.heard(now)
    }
    if (r.kind === 'refused') {
      a.wants.refused(index)
      if (a.refusedEvents++ < MAX_REFUSED_EVENTS) {
        this.log.warn({ index, reason: r.reason }, 'update: chunk refused; it is asked for again')
        void this.event('chunk_refused', { op: 'update', version: a.plan.version, index, reason: r.reason })
      }
    } else if (r.kind === 'written') a.wants.written(index, now)
    if (r.kind !== 'refused' && r.complete) {
      this.report(a, now)
      void this.finish(a)
      return false
    }
    if (a.got - a.reportedGot >= REPORT_EVERY || now - a.reportedAt >= REPORT_MS) this.report(a, now)
    return true
  }

  private fail(a: Active, reason: string): void {
    this.log.error({ version: a.plan.version, reason }, 'update: the download failed')
    void this.event('failed', { op: 'update', version: a.plan.version, reason })
    if (this.active === a) this.end()
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

  private async begin(plan: TransferPlan, install: boolean, url?: string): Promise<void> {
    const id = transferId(plan.sha256)
    const old = this.active
    old?.source?.stop()
    if (old) this.link.unsubscribe(sharedFilter(old.id))
    const now = this.clock.now()
    const a: Active = { id, plan, install, state: 'receiving', wants: new WantPlan(now), got: 0, last: -1, reportedGot: 0, reportedAt: 0, refusedEvents: 0, source: null, ...(url ? { url } : {}) }
    this.active = a
    if (this.host.have() === plan.chunks) {
      void this.finish(a)
      return
    }
    if (url) return this.download(a, url)
    // Subscribed before the announce is answered: the operator's broadcast follows the answer.
    await this.link.subscribe(sharedFilter(id))
  }

  /** Fetches what is missing from the update's HTTPS URL; a download that fails for good ends the transfer. */
  private download(a: Active, url: string): void {
    const source = new UrlSource(url, a.plan, { missing: (max) => this.host.missing(max), take: (i, b) => this.take(a, i, b, false), ca: () => this.host.trustedCa() }, this.log, this.clock)
    a.source = source
    void source.run().then((failure) => {
      if (failure !== null && this.active === a && a.state === 'receiving') this.fail(a, failure)
    })
  }

  private end(): void {
    const a = this.active
    a?.source?.stop()
    if (a) this.link.unsubscribe(sharedFilter(a.id))
    this.active = null
  }

  private tick(): void {
    const a = this.active
    if (!a || a.state !== 'receiving' || !this.link.online) return
    const now = this.clock.now()
    // From a URL nothing is asked of the operator: only progress.
    const ask = a.url ? null : a.wants.next(now, (max) => this.host.missing(max))
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
    // After a reconnect or a refused chunk it is worth a line (once per event); the steady batch and idle asks are not.
    const line = { count: indices.length, first: indices[0], reason }
    if (reason === 'reconnect' || reason === 'refused') this.log.info(line, 'update: asking for missing chunks')
    else this.log.debug(line, 'update: asking for missing chunks')
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
        if (a.url) this.download(a, a.url)
        this.log.error({ version: v, reason }, 'update: verification failed; the chunks that read back wrong are asked for again')
        void this.event('chunk_refused', { op: 'update', version: v, reason })
        return
      }
      this.log.error({ version: v, reason }, 'update failed; nothing was installed')
      void this.event('failed', { op: 'update', version: v, reason })
      if (this.active === a) this.end()
      return
    }
    this.link.unsubscribe(sharedFilter(a.id))
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

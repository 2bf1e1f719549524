import type { Clock, Logger, Message, QueueEntry, Sink, Status, TimerHandle } from '../core/index.ts'
import { Backoff, errorMessage, silentLogger, systemClock } from '../core/index.ts'
import { ReadyList } from './ready-list.ts'
import type { SequencedQueue } from './types.ts'

export type ForwarderMode = 'backlog-first' | 'live-first'

/**
 * Entries held read ahead of the window: the window clamped to [256, 1024] (bounded memory: window +
 * this many messages). The next read starts once half of it is free, so reading the queue overlaps
 * sending. A queue read takes ~1-3 ms under a drain; at ~100k msg/s 128 entries last ~1 ms, so a large
 * window needs a matching read-ahead or it starves between reads.
 */
const MIN_READ_AHEAD = 256
const MAX_READ_AHEAD = 1024

export interface ForwarderOptions {
  queue: SequencedQueue
  sink: Sink
  /** Entries sent and not yet acknowledged by the cloud; bounds duplicates after a reconnect. */
  window?: number
  /** Messages/s when replaying a backlog (entries queued before the sink came online); 0 = unlimited. */
  replayRate?: number
  mode?: ForwarderMode
  logger?: Logger
  clock?: Clock
  /** Live entries held in memory for live-first before falling back to the queue's order. */
  maxLive?: number
  /**
   * After a reconnect, how long to wait for publishes of the old connection to settle before sending
   * them again anyway (a sink should reject them when its connection drops; this covers one that does not).
   */
  settleTimeout?: number
}

interface Flight {
  entry: QueueEntry
  gen: number
}

/**
 * Drains one durable queue into one uplink. An entry leaves the queue only when the sink's publish
 * resolves (cloud PUBACK/PUBCOMP). After a failure nothing new is sent until every in-flight publish
 * has settled; then the failed ones go again in sequence order, so order holds across reconnects
 * and duplicates are bounded by the window.
 */
export class Forwarder {
  private readonly q: SequencedQueue
  private readonly sink: Sink
  private readonly window: number
  private readonly replayRate: number
  private readonly mode: ForwarderMode
  private readonly log: Logger
  private readonly clock: Clock
  private readonly maxLive: number
  private readonly readAheadMax: number
  private running = false
  private everStarted = false
  /** accept() calls whose append has not resolved yet. */
  private appending = 0
  private readonly inflight = new Map<bigint, Flight>()
  private resend: QueueEntry[] = []
  /** Peeked backlog entries not yet sent. */
  private readonly ready = new ReadyList()
  /** nextReady()'s filter, bound once (no closure per entry). */
  private readonly alreadySent = (e: QueueEntry): boolean => this.skipReady(e)
  private live: QueueEntry[] = []
  /** Sequences sent live (increasing), skipped when the backlog cursor reaches them. */
  private liveSent: bigint[] = []
  private queueMayHaveMore = true
  private broken = false
  private gen = 0
  private reading = false
  private fillQueued = false
  /** Acknowledged sequences not yet handed to the queue: one ack() per turn instead of one per message. */
  private acks: bigint[] = []
  private directInflight = 0
  private onlineSince: number
  private nextSendAt = 0
  private timer: TimerHandle | null = null
  private retryTimer: TimerHandle | null = null
  private settleTimer: TimerHandle | null = null
  private readonly settleTimeout: number
  private unsubscribe: (() => void) | null = null
  private readonly backoff = new Backoff(100, 5000)
  private counters = { sent: 0, acked: 0, resent: 0, direct: 0, failures: 0, spilled: 0 }
  private lastError: string | null = null

  constructor(o: ForwarderOptions) {
    this.q = o.queue
    this.sink = o.sink
    this.window = Math.max(1, o.window ?? 32)
    this.replayRate = Math.max(0, o.replayRate ?? 0)
    this.mode = o.mode ?? 'backlog-first'
    this.log = o.logger ?? silentLogger
    this.clock = o.clock ?? systemClock
    this.maxLive = o.maxLive ?? this.window * 4
    this.readAheadMax = Math.min(MAX_READ_AHEAD, Math.max(MIN_READ_AHEAD, this.window))
    this.settleTimeout = o.settleTimeout ?? 10_000
    this.onlineSince = this.clock.now()
  }

  /**
   * Takes a message routed to this uplink. QoS 1/2: resolves once durable in the queue (the broker
   * sends PUBACK/PUBREC after that). QoS 0: sent directly while the sink is online and nothing is
   * queued, otherwise queued without fsync.
   */
  async accept(m: Message): Promise<void> {
    if (m.qos === 0 && this.canSendDirect()) {
      this.sendDirect(m)
      return
    }
    this.appending++
    let seq: bigint | undefined
    try {
      ;[seq] = await this.q.appendSeq([m])
    } finally {
      this.appending--
    }
    this.queueMayHaveMore = true
    // Live means accepted while the uplink is up; what piled up during an outage is backlog.
    if (this.mode === 'live-first' && seq !== undefined && this.running && this.sink.online && this.live.length < this.maxLive) {
      this.live.push({ seq, message: m, enqueuedAt: this.clock.now() })
    }
    this.kick()
  }

  private canSendDirect(): boolean {
    return (
      this.running &&
      this.sink.online &&
      !this.broken &&
      // appends not yet committed count too: a QoS 0 must not overtake a QoS 1 accepted before it
      this.appending === 0 &&
      this.q.stats().depth === 0 &&
      this.resend.length + this.ready.count + this.live.length === 0 &&
      this.inflight.size + this.directInflight < this.window
    )
  }

  private sendDirect(m: Message): void {
    this.directInflight++
    this.counters.direct++
    this.sink.publish(m).then(
      () => {
        this.directInflight--
      },
      (err: unknown) => {
        this.directInflight--
        this.lastError = errorMessage(err)
        // At most once allows dropping it; keeping it costs nothing while the disk has room.
        this.counters.spilled++
        this.q.appendSeq([m]).then(() => {
          this.queueMayHaveMore = true
          this.kick()
        }, () => undefined)
      },
    )
  }

  start(): void {
    if (this.running) return
    // A new forwarder on a queue another one read (an uplink rebuilt by a reload) starts at the oldest
    // entry: what the old one had read ahead or in flight and not acked must not be skipped.
    if (!this.everStarted) this.q.rewind()
    this.everStarted = true
    this.running = true
    this.onlineSince = this.clock.now()
    this.unsubscribe = this.sink.onOnline(() => this.onOnline())
    this.kick()
  }

  private onOnline(): void {
    this.onlineSince = this.clock.now()
    this.backoff.reset()
    if (this.inflight.size === 0) {
      this.broken = false
      this.kick()
      return
    }
    // Resending while old publishes may still land would reorder: wait for them to settle first.
    this.broken = true
    this.resumeOnSettle = true
    if (!this.settleTimer) {
      this.settleTimer = this.clock.setTimeout(() => {
        this.settleTimer = null
        if (this.inflight.size === 0) return
        this.log.warn({ inflight: this.inflight.size }, 'forwarder: publishes of the previous connection never settled; sending them again')
        this.failInflight()
        this.settled()
      }, this.settleTimeout)
    }
  }

  private resumeOnSettle = false

  private failInflight(): void {
    for (const f of this.inflight.values()) this.addResend(f.entry)
    this.inflight.clear()
    this.gen++
  }

  async stop(): Promise<void> {
    this.running = false
    this.unsubscribe?.()
    this.unsubscribe = null
    if (this.timer) this.clock.clearTimeout(this.timer)
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer)
    if (this.settleTimer) this.clock.clearTimeout(this.settleTimer)
    this.timer = null
    this.retryTimer = null
    this.settleTimer = null
    if (this.acks.length > 0) this.flushAcks()
    await this.q.flush()
  }

  /** Fills the window once the current turn's acknowledgements are in: one fill per burst of PUBACKs. */
  private kick(): void {
    if (this.fillQueued) return
    this.fillQueued = true
    queueMicrotask(() => {
      this.fillQueued = false
      this.fill()
    })
  }

  private fill(): void {
    while (this.running && this.sink.online && !this.broken && this.inflight.size < this.window) {
      let next = this.resend.shift()
      let src: 'resend' | 'live' | 'ready' = 'resend'
      if (!next && (next = this.live.shift())) src = 'live'
      if (!next && (next = this.nextReady())) src = 'ready'
      if (!next) break
      // Live entries are never paced: replayRate limits only the backlog.
      if (src !== 'live' && this.isBacklog(next) && !this.paced()) {
        if (src === 'resend') this.resend.unshift(next)
        else this.ready.untake()
        break
      }
      if (src === 'live') this.liveSent.push(next.seq)
      this.send(next)
    }
    this.readAhead()
  }

  /**
   * Reads the next chunk of the queue while the window is still busy, so the sink never waits for the
   * disk. One read at a time; window + readAheadMax entries at most are held in memory.
   */
  private readAhead(): void {
    if (this.reading || !this.queueMayHaveMore || !this.running || !this.sink.online || this.broken) return
    const room = this.window + this.readAheadMax - this.inflight.size - this.ready.count
    if (room < this.readAheadMax / 2) return
    this.reading = true
    this.queueMayHaveMore = false
    this.q.peek(room).then(
      (got) => {
        this.reading = false
        // peek returns up to n; only an empty read means the queue is drained (appends set the flag again).
        if (got.length > 0) {
          this.queueMayHaveMore = true
          this.ready.append(got)
        }
        this.fill()
      },
      (err: unknown) => {
        this.reading = false
        this.queueMayHaveMore = true
        this.lastError = errorMessage(err)
        this.log.warn({ err: this.lastError }, 'forwarder: reading the queue failed; retrying')
        this.schedule(this.backoff.next())
      },
    )
  }

  /** Next backlog entry, skipping those already sent live. */
  private nextReady(): QueueEntry | undefined {
    return this.ready.take(this.alreadySent)
  }

  private skipReady(e: QueueEntry): boolean {
    if (this.liveSent.length > 0) {
      while (this.liveSent.length > 0 && (this.liveSent[0] as bigint) < e.seq) this.liveSent.shift()
      if (this.liveSent[0] === e.seq) {
        this.liveSent.shift()
        return true
      }
    }
    return this.inflight.has(e.seq)
  }

  private isBacklog(e: QueueEntry): boolean {
    return this.replayRate > 0 && e.enqueuedAt < this.onlineSince
  }

  /** Token pacing for backlog replay; schedules a wake-up when it is too early. */
  private paced(): boolean {
    const now = this.clock.now()
    if (now < this.nextSendAt) {
      this.schedule(this.nextSendAt - now)
      return false
    }
    this.nextSendAt = Math.max(now, this.nextSendAt) + 1000 / this.replayRate
    return true
  }

  private schedule(ms: number): void {
    if (this.timer || !this.running) return
    this.timer = this.clock.setTimeout(() => {
      this.timer = null
      this.fill() // now, at the time the clock fired: pacing catches up within one advance
    }, ms)
  }

  private addResend(e: QueueEntry): void {
    if (this.resend.some((r) => r.seq === e.seq)) return
    this.resend.push(e)
    this.resend.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))
  }

  private send(entry: QueueEntry): void {
    const gen = this.gen
    this.inflight.set(entry.seq, { entry, gen })
    this.counters.sent++
    this.sink.publish(entry.message).then(
      () => {
        this.counters.acked++
        if (this.acks.push(entry.seq) === 1) queueMicrotask(() => this.flushAcks())
        if (this.inflight.get(entry.seq)?.gen === gen) this.inflight.delete(entry.seq)
        this.forgetAcked(entry.seq)
        this.backoff.reset()
        this.settled()
      },
      (err: unknown) => {
        if (this.inflight.get(entry.seq)?.gen !== gen) return // already moved to resend on reconnect
        this.inflight.delete(entry.seq)
        this.counters.failures++
        this.lastError = errorMessage(err)
        this.addResend(entry)
        this.broken = true
        this.settled()
      },
    )
  }

  /** Hands the acknowledgements of this turn to the queue in one call (it deletes them in its next batch). */
  private flushAcks(): void {
    const seqs = this.acks
    this.acks = []
    this.q.ack(seqs).catch((err: unknown) => {
      // The entries stay queued and are sent again after a restart: duplicates, never a loss.
      this.lastError = errorMessage(err)
    })
  }

  /** An acknowledged entry must not go out again from the resend, ready or live-skip lists. */
  private forgetAcked(seq: bigint): void {
    if (this.resend.length > 0) this.resend = this.resend.filter((r) => r.seq !== seq)
    if (this.mode !== 'live-first') return
    const i = this.liveSent.indexOf(seq)
    if (i >= 0) {
      // Deleted from the queue now, so the cursor may never meet it; drop it from a peeked window too.
      this.liveSent.splice(i, 1)
      this.ready.remove(seq)
    }
  }

  /** After a failure, wait for every in-flight publish to settle, then retry in order. */
  private settled(): void {
    if (this.broken && this.inflight.size === 0) {
      this.counters.resent += this.resend.length
      this.log.info({ resend: this.resend.length, err: this.lastError }, 'forwarder: uplink publish failed; resending in order')
      if (this.settleTimer) this.clock.clearTimeout(this.settleTimer)
      this.settleTimer = null
      if (this.resumeOnSettle && this.sink.online) {
        // The uplink already reconnected while we waited.
        this.resumeOnSettle = false
        this.broken = false
        this.kick()
        return
      }
      // Offline: onOnline will restart us. Online but failing: retry after a backoff.
      if (this.sink.online) {
        this.retryTimer ??= this.clock.setTimeout(() => {
          this.retryTimer = null
          this.broken = false
          this.kick()
        }, this.backoff.next())
      }
      return
    }
    this.kick()
  }

  status(): Status {
    const qs = this.q.stats()
    const online = this.sink.online
    const health = !online || this.broken ? 'degraded' : 'ok'
    return {
      health,
      ...(health === 'degraded' ? { reason: online ? `publishes failing: ${this.lastError ?? 'unknown'}` : 'uplink offline; messages are queued' } : {}),
      details: {
        mode: this.mode,
        running: this.running,
        online,
        inflight: this.inflight.size + this.directInflight,
        window: this.window,
        replayRate: this.replayRate,
        ...this.counters,
        backlog: qs.depth,
        lastError: this.lastError,
      },
    }
  }
}

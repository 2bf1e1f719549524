import type { QueueEntry } from '../core/index.ts'
import { Backoff } from '../core/index.ts'
import type { Command, ForwarderEnv, ForwarderStateOptions, TimerKind } from './forwarder-types.ts'
import { Pacer } from './pacer.ts'
import { SendOrder } from './send-order.ts'

/**
 * Entries held read ahead of the window: the window clamped to [256, 1024] (bounded memory: window +
 * this many messages). The next read starts once half of it is free, so reading the queue overlaps
 * sending. A queue read takes ~1-3 ms under a drain; at ~100k msg/s 128 entries last ~1 ms, so a large
 * window needs a matching read-ahead or it starves between reads.
 */
const MIN_READ_AHEAD = 256
const MAX_READ_AHEAD = 1024

interface Flight {
  entry: QueueEntry
  gen: number
}

/**
 * The forwarder's decisions, without IO: which entry goes next, when to read the queue, when to wait
 * for old publishes to settle, what to resend and in which order. Inputs are events (appended, read,
 * published, failed, online, timer fired); outputs are `Command`s collected until `take()`.
 *
 * Order (the lists themselves: send-order.ts): nothing is sent from the ready or live lists while an
 * older one waits to be resent, and after a failure nothing new goes out until every in-flight publish
 * has settled; then the failed ones go again in sequence order. After a drop, duplicates are bounded by
 * the window; a crash also resends what the cloud acknowledged but the queue had not yet deleted.
 */
export class ForwarderState {
  private out: Command[] = []
  private running = false
  private everStarted = false
  private appending = 0
  private readonly inflight = new Map<bigint, Flight>()
  private readonly order = new SendOrder((seq) => this.inflight.has(seq))
  private queueMayHaveMore = true
  private broken = false
  private resumeOnSettle = false
  private gen = 0
  private reading = false
  /** Acknowledged while a read was out: the read may still return them (their delete is not written yet). */
  private readonly ackedDuringRead = new Set<bigint>()
  private acks: bigint[] = []
  private directInflight = 0
  private readonly pacer: Pacer
  private readonly timers = new Set<TimerKind>()
  private readonly readAheadMax: number
  private readonly backoff = new Backoff(100, 5000)
  readonly counters = { sent: 0, acked: 0, resent: 0, direct: 0, failures: 0, spilled: 0 }
  lastError: string | null = null

  constructor(
    private readonly opts: ForwarderStateOptions,
    private readonly env: ForwarderEnv,
  ) {
    this.readAheadMax = Math.min(MAX_READ_AHEAD, Math.max(MIN_READ_AHEAD, opts.window))
    this.pacer = new Pacer(opts.replayRate, env.now())
  }

  /** The commands produced since the last call, in order. */
  take(): Command[] {
    const c = this.out
    this.out = []
    return c
  }

  get isRunning(): boolean {
    return this.running
  }

  get isBroken(): boolean {
    return this.broken
  }

  get mode(): string {
    return this.opts.mode
  }

  get inflightCount(): number {
    return this.inflight.size + this.directInflight
  }

  /**
   * `started` false when it was already running. `rewind`: this forwarder never ran, so the queue must
   * start again at its oldest entry (another one may have read it: an uplink rebuilt by a reload).
   */
  start(): { started: boolean; rewind: boolean } {
    if (this.running) return { started: false, rewind: false }
    const rewind = !this.everStarted
    this.everStarted = true
    this.running = true
    this.pacer.online(this.env.now())
    this.kick()
    return { started: true, rewind }
  }

  stop(): { acks: bigint[] } {
    this.running = false
    for (const k of this.timers) this.out.push({ t: 'clear', kind: k })
    this.timers.clear()
    return { acks: this.takeAcks() }
  }

  /** QoS 0 may skip the queue: online, nothing queued or being appended, room in the window. */
  canSendDirect(): boolean {
    return (
      this.running &&
      this.env.online() &&
      !this.broken &&
      // appends not yet committed count too: a QoS 0 must not overtake a QoS 1 accepted before it
      this.appending === 0 &&
      this.env.queueDepth() === 0 &&
      this.order.waiting === 0 &&
      this.inflight.size + this.directInflight < this.opts.window
    )
  }

  directSent(): void {
    this.directInflight++
    this.counters.direct++
  }

  directSettled(err: string | null): void {
    this.directInflight--
    if (err === null) return
    this.lastError = err
    this.counters.spilled++
  }

  appendStarted(): void {
    this.appending++
  }

  /** An append finished (`entry` when it succeeded). Live means accepted while the uplink is up. */
  appendEnded(entry: QueueEntry | null): void {
    this.appending--
    if (!entry) return
    this.appended()
    if (this.opts.mode === 'live-first' && this.running && this.env.online() && this.order.liveCount < this.opts.maxLive) this.order.addLive(entry)
  }

  /** Something new is in the queue (an append, a spilled QoS 0). */
  appended(): void {
    this.queueMayHaveMore = true
    this.kick()
  }

  online(): void {
    this.pacer.online(this.env.now())
    this.backoff.reset()
    if (this.inflight.size === 0) {
      this.broken = false
      this.kick()
      return
    }
    // Resending while old publishes may still land would reorder: wait for them to settle first.
    this.broken = true
    this.resumeOnSettle = true
    this.setTimer('settle', this.opts.settleTimeout)
  }

  timerFired(kind: TimerKind): void {
    this.timers.delete(kind)
    if (kind === 'pace') this.fill()
    else if (kind === 'retry') {
      this.broken = false
      this.kick()
    } else if (this.inflight.size > 0) {
      this.opts.logger.warn({ inflight: this.inflight.size }, 'forwarder: publishes of the previous connection never settled; sending them again')
      for (const f of this.inflight.values()) this.order.addResend(f.entry)
      this.inflight.clear()
      this.gen++
      this.settled()
    }
  }

  fill(): void {
    while (this.running && this.env.online() && !this.broken && this.inflight.size < this.opts.window) {
      const taken = this.order.next()
      if (!taken) break
      const { entry: next, src } = taken
      // Live entries are never paced: replayRate limits only the backlog.
      if (src !== 'live' && this.pacer.isBacklog(next.enqueuedAt)) {
        const wait = this.pacer.wait(this.env.now())
        if (wait > 0) {
          this.setTimer('pace', wait)
          this.order.putBack(next, src)
          break
        }
      }
      if (src === 'live') this.order.sentLive(next.seq)
      this.inflight.set(next.seq, { entry: next, gen: this.gen })
      this.counters.sent++
      this.out.push({ t: 'send', entry: next, gen: this.gen })
    }
    this.readAhead()
  }

  /** Reads the next chunk while the window is still busy, so the sink never waits for the disk. */
  private readAhead(): void {
    if (this.reading || !this.queueMayHaveMore || !this.running || !this.env.online() || this.broken) return
    const room = this.opts.window + this.readAheadMax - this.inflight.size - this.order.readyCount
    if (room < this.readAheadMax / 2) return
    this.reading = true
    this.queueMayHaveMore = false
    this.out.push({ t: 'read', n: room })
  }

  read(got: QueueEntry[]): void {
    this.reading = false
    // A read returns up to n; only an empty one means the queue is drained (appends set the flag again).
    if (got.length > 0) {
      this.queueMayHaveMore = true
      this.order.addRead(this.ackedDuringRead.size > 0 ? got.filter((e) => !this.ackedDuringRead.has(e.seq)) : got)
    }
    this.ackedDuringRead.clear()
    this.fill()
  }

  readFailed(err: string): void {
    this.reading = false
    this.ackedDuringRead.clear()
    this.queueMayHaveMore = true
    this.lastError = err
    this.opts.logger.warn({ err }, 'forwarder: reading the queue failed; retrying')
    this.setTimer('pace', this.backoff.next())
  }

  published(seq: bigint, gen: number): void {
    this.counters.acked++
    if (this.acks.push(seq) === 1) this.out.push({ t: 'flushAcks' })
    if (this.inflight.get(seq)?.gen === gen) this.inflight.delete(seq)
    if (this.reading) this.ackedDuringRead.add(seq)
    this.order.forgetAcked(seq, this.opts.mode === 'live-first')
    this.backoff.reset()
    this.settled()
  }

  publishFailed(seq: bigint, gen: number, err: string): void {
    const f = this.inflight.get(seq)
    if (!f || f.gen !== gen) return // already moved to resend on reconnect
    this.inflight.delete(seq)
    this.counters.failures++
    this.lastError = err
    this.order.addResend(f.entry)
    this.broken = true
    this.settled()
  }

  /** The acknowledged sequences of this turn, for one ack() of the queue (it deletes them in its next batch). */
  takeAcks(): bigint[] {
    const a = this.acks
    this.acks = []
    return a
  }

  /** After a failure, wait for every in-flight publish to settle, then retry in order. */
  private settled(): void {
    if (!(this.broken && this.inflight.size === 0)) {
      this.kick()
      return
    }
    this.counters.resent += this.order.resendCount
    this.opts.logger.info({ resend: this.order.resendCount, err: this.lastError }, 'forwarder: uplink publish failed; resending in order')
    this.clearTimer('settle')
    if (this.resumeOnSettle && this.env.online()) {
      // The uplink already reconnected while we waited.
      this.resumeOnSettle = false
      this.broken = false
      this.kick()
      return
    }
    // Offline: online() will restart us. Online but failing: retry after a backoff.
    if (this.env.online() && !this.timers.has('retry')) this.setTimer('retry', this.backoff.next())
  }

  private kick(): void {
    this.out.push({ t: 'kick' })
  }

  /** At most one timer of each kind; a second request while one is pending is ignored. */
  private setTimer(kind: TimerKind, ms: number): void {
    if (this.timers.has(kind) || (kind === 'pace' && !this.running)) return
    this.timers.add(kind)
    this.out.push({ t: 'timer', kind, ms })
  }

  private clearTimer(kind: TimerKind): void {
    if (!this.timers.delete(kind)) return
    this.out.push({ t: 'clear', kind })
  }
}

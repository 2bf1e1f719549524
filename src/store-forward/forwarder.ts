import type { Clock, Logger, Message, Sink, Status, TimerHandle } from '../core/index.ts'
import { errorMessage, silentLogger, systemClock } from '../core/index.ts'
import { ForwarderState } from './forwarder-state.ts'
import type { Command, ForwarderMode, TimerKind } from './forwarder-types.ts'
import type { SequencedQueue } from './types.ts'

export type { ForwarderMode } from './forwarder-types.ts'

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

/**
 * Drains one durable queue into one uplink. An entry leaves the queue only when the sink's publish
 * resolves (cloud PUBACK/PUBCOMP). The decisions (order, window, resends, pacing) are made by
 * `ForwarderState`; this shell carries its commands out on the queue, the sink and the clock, and
 * feeds the results back.
 */
export class Forwarder {
  private readonly q: SequencedQueue
  private readonly sink: Sink
  private readonly clock: Clock
  private readonly window: number
  private readonly replayRate: number
  private readonly state: ForwarderState
  private readonly timers = new Map<TimerKind, TimerHandle>()
  private fillQueued = false
  private unsubscribe: (() => void) | null = null

  constructor(o: ForwarderOptions) {
    this.q = o.queue
    this.sink = o.sink
    this.clock = o.clock ?? systemClock
    const window = (this.window = Math.max(1, o.window ?? 32))
    this.replayRate = Math.max(0, o.replayRate ?? 0)
    const queue = o.queue
    const sink = o.sink
    const clock = this.clock
    this.state = new ForwarderState(
      {
        window,
        replayRate: this.replayRate,
        mode: o.mode ?? 'backlog-first',
        maxLive: o.maxLive ?? window * 4,
        settleTimeout: o.settleTimeout ?? 10_000,
        logger: o.logger ?? silentLogger,
      },
      { now: () => clock.now(), online: () => sink.online, queueDepth: () => queue.stats().depth },
    )
  }

  /**
   * Takes a message routed to this uplink. QoS 1/2: resolves once durable in the queue (the broker
   * sends PUBACK/PUBREC after that). QoS 0: sent directly while the sink is online and nothing is
   * queued, otherwise queued without fsync.
   */
  async accept(m: Message): Promise<void> {
    const s = this.state
    if (m.qos === 0 && s.canSendDirect()) {
      this.sendDirect(m)
      return
    }
    s.appendStarted()
    let seq: bigint | undefined
    try {
      ;[seq] = await this.q.appendSeq([m])
    } catch (err) {
      s.appendEnded(null)
      throw err
    }
    s.appendEnded(seq === undefined ? null : { seq, message: m, enqueuedAt: this.clock.now() })
    this.run()
  }

  private sendDirect(m: Message): void {
    this.state.directSent()
    this.sink.publish(m).then(
      () => this.state.directSettled(null),
      (err: unknown) => {
        this.state.directSettled(errorMessage(err))
        // At most once allows dropping it; keeping it costs nothing while the disk has room.
        this.q.appendSeq([m]).then(() => {
          this.state.appended()
          this.run()
        }, () => undefined)
      },
    )
  }

  start(): void {
    const { started, rewind } = this.state.start()
    if (!started) return
    if (rewind) this.q.rewind()
    this.unsubscribe = this.sink.onOnline(() => {
      this.state.online()
      this.run()
    })
    this.run()
  }

  async stop(): Promise<void> {
    const { acks } = this.state.stop()
    this.unsubscribe?.()
    this.unsubscribe = null
    this.run()
    if (acks.length > 0) this.ack(acks)
    await this.q.flush()
  }

  /** Carries out what the state machine asked for. */
  private run(): void {
    for (const c of this.state.take()) this.exec(c)
  }

  private exec(c: Command): void {
    switch (c.t) {
      case 'send':
        this.send(c.entry.seq, c.entry.message, c.gen)
        return
      case 'read':
        this.q.peek(c.n).then(
          (got) => {
            this.state.read(got)
            this.run()
          },
          (err: unknown) => {
            this.state.readFailed(errorMessage(err))
            this.run()
          },
        )
        return
      case 'kick':
        if (this.fillQueued) return
        this.fillQueued = true
        queueMicrotask(() => {
          this.fillQueued = false
          this.state.fill()
          this.run()
        })
        return
      case 'flushAcks':
        queueMicrotask(() => {
          const seqs = this.state.takeAcks()
          if (seqs.length > 0) this.ack(seqs)
        })
        return
      case 'timer': {
        const kind = c.kind
        this.timers.set(kind, this.clock.setTimeout(() => {
          this.timers.delete(kind)
          this.state.timerFired(kind)
          this.run()
        }, c.ms))
        return
      }
      case 'clear': {
        const h = this.timers.get(c.kind)
        if (h) this.clock.clearTimeout(h)
        this.timers.delete(c.kind)
      }
    }
  }

  private send(seq: bigint, m: Message, gen: number): void {
    this.sink.publish(m).then(
      () => {
        this.state.published(seq, gen)
        this.run()
      },
      (err: unknown) => {
        this.state.publishFailed(seq, gen, errorMessage(err))
        this.run()
      },
    )
  }

  /** Hands acknowledged sequences to the queue in one call (it deletes them in its next batch). */
  private ack(seqs: bigint[]): void {
    this.q.ack(seqs).catch((err: unknown) => {
      // The entries stay queued and are sent again after a restart: duplicates, never a loss.
      this.state.lastError = errorMessage(err)
    })
  }

  status(): Status {
    const online = this.sink.online
    const broken = this.state.isBroken
    const health = !online || broken ? 'degraded' : 'ok'
    return {
      health,
      ...(health === 'degraded' ? { reason: online ? `publishes failing: ${this.state.lastError ?? 'unknown'}` : 'uplink offline; messages are queued' } : {}),
      details: {
        mode: this.state.mode,
        running: this.state.isRunning,
        online,
        inflight: this.state.inflightCount,
        window: this.window,
        replayRate: this.replayRate,
        ...this.state.counters,
        backlog: this.q.stats().depth,
        lastError: this.state.lastError,
      },
    }
  }
}

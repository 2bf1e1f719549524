import type { Clock, TimerHandle } from '../core/index.ts'

/**
 * Round-trip probe: publish a token to the cloud, expect it back on our own subscription. Keep-alive
 * alone can miss a link where the socket looks up but the broker no longer routes our traffic; a probe
 * that does not come back within `timeout` declares the link dead.
 */
export class Probe {
  rtt: number | null = null
  lastAt: number | null = null
  private seq = 0
  private outstanding: { token: string; sentAt: number; timer: TimerHandle } | null = null
  private ticker: TimerHandle | null = null

  constructor(
    private readonly clock: Clock,
    private readonly interval: number,
    private readonly timeout: number,
    private readonly prefix: string,
    private readonly send: (payload: Buffer) => void,
    private readonly onTimeout: (waited: number) => void,
    private readonly onRtt: (rtt: number) => void = () => undefined,
  ) {}

  /** Probes once now, then every interval (interval 0 = off). */
  start(): void {
    this.stop()
    if (this.interval <= 0) return
    this.fire()
    this.ticker = this.clock.setInterval(() => this.fire(), this.interval)
    this.ticker.unref?.()
  }

  stop(): void {
    if (this.ticker) this.clock.clearInterval(this.ticker)
    this.ticker = null
    if (this.outstanding) this.clock.clearTimeout(this.outstanding.timer)
    this.outstanding = null
  }

  /** A message on the probe topic; true when it was our outstanding probe. */
  received(payload: Buffer): boolean {
    const o = this.outstanding
    if (!o || payload.toString('utf8') !== o.token) return false
    this.clock.clearTimeout(o.timer)
    this.outstanding = null
    this.rtt = this.clock.now() - o.sentAt
    this.lastAt = this.clock.now()
    this.onRtt(this.rtt)
    return true
  }

  private fire(): void {
    if (this.outstanding) return // still waiting: its own timer decides
    const token = `${this.prefix}:${this.seq++}`
    const sentAt = this.clock.now()
    const timer = this.clock.setTimeout(() => {
      this.outstanding = null
      this.onTimeout(this.clock.now() - sentAt)
    }, this.timeout)
    timer.unref?.()
    this.outstanding = { token, sentAt, timer }
    this.send(Buffer.from(token))
  }
}

import type { Clock, TimerHandle } from '../core/clock.ts'
import type { Message, Status } from '../core/types.ts'

/** What $SYS publishing uses of the broker. */
export interface SysContext {
  /** ms between publications; 0 = off. */
  readonly interval: number
  readonly clock: Clock
  readonly gatewayId: string
  /** The gateway's version, or undefined (tests, tools). */
  readonly version: string | undefined
  status(): Status
  ingest(m: Message): Promise<void> | undefined
}

/** Publishes `$SYS/broker/...` statistics as retained QoS 0 messages every `sys_interval`. */
export class SysPublisher {
  private timer: TimerHandle | null = null

  constructor(private readonly ctx: SysContext) {}

  start(): void {
    const every = this.ctx.interval
    if (every <= 0) return
    this.publishOnce()
    this.timer = this.ctx.clock.setInterval(() => this.publishOnce(), every)
    this.timer.unref?.()
  }

  stop(): void {
    if (this.timer !== null) this.ctx.clock.clearInterval(this.timer)
    this.timer = null
  }

  publishOnce(): void {
    const d = this.ctx.status().details as {
      clients: { connected: number; sessions: number; total: number }
      subscriptions: number
      retained: number
      limitHits: { retained?: number }
      messages: { in: number; out: number; dropped: number }
      bytes: { in: number; out: number }
      uptimeSeconds: number
    }
    const values: Array<[string, string | number]> = [
      ['version', this.ctx.version === undefined ? 'fieldgate' : `fieldgate ${this.ctx.version}`],
      ['gateway', this.ctx.gatewayId],
      ['uptime', `${d.uptimeSeconds} seconds`],
      ['clients/connected', d.clients.connected],
      ['clients/total', d.clients.sessions],
      ['clients/connections', d.clients.total],
      ['messages/received', d.messages.in],
      ['messages/sent', d.messages.out],
      ['messages/dropped', d.messages.dropped],
      ['bytes/received', d.bytes.in],
      ['bytes/sent', d.bytes.out],
      ['subscriptions/count', d.subscriptions],
      ['retained messages/count', d.retained],
      ['retained messages/refused', d.limitHits.retained ?? 0],
    ]
    const now = this.ctx.clock.now()
    for (const [topic, value] of values) {
      const w = this.ctx.ingest({
        topic: `$SYS/broker/${topic}`,
        payload: Buffer.from(String(value)),
        qos: 0,
        retain: true,
        origin: '$SYS',
        receivedAt: now,
      })
      w?.catch(() => undefined)
    }
  }
}

import { Backoff, type Clock } from '../core/index.ts'

export type LinkState = 'connecting' | 'online' | 'backoff' | 'offline'

/**
 * The uplink's connection bookkeeping without sockets: which server to try next, how long to wait,
 * state and since when, reconnect count, last error. The uplink drives it from MQTT.js events.
 */
export class Supervisor {
  state: LinkState = 'offline'
  since: number
  /** When the link last went down (or the supervisor started, if it never came up); null while online. Retries do not move it. */
  offlineSince: number | null
  lastError: string | null = null
  /** Successful connects after the first one. */
  reconnects = 0
  /** Connection attempts since start. */
  attempts = 0
  private connects = 0
  private index = 0
  private onlineAt = 0

  constructor(
    private readonly servers: string[],
    private readonly backoff: Backoff,
    private readonly clock: Clock,
    /** A link that stayed up this long counts as healthy: the backoff starts again from its minimum. */
    private readonly stableAfter: number,
  ) {
    if (servers.length === 0) throw new TypeError('supervisor: at least one server')
    this.since = clock.now()
    this.offlineSince = this.since
  }

  get server(): string {
    return this.servers[this.index] as string
  }

  /** A new attempt begins; returns the server to try. */
  begin(): string {
    this.attempts++
    this.set('connecting')
    return this.server
  }

  connected(): void {
    if (this.connects++ > 0) this.reconnects++
    this.onlineAt = this.clock.now()
    this.set('online')
  }

  /**
   * The attempt failed or the link dropped: record why, move on to the next server when the attempt
   * never came up, and return the delay before the next attempt.
   */
  failed(reason: string): number {
    const wasOnline = this.state === 'online'
    this.lastError = reason
    if (wasOnline) {
      if (this.clock.now() - this.onlineAt >= this.stableAfter) this.backoff.reset()
    } else {
      this.index = (this.index + 1) % this.servers.length
    }
    this.set('backoff')
    return this.backoff.next()
  }

  stopped(): void {
    this.set('offline')
  }

  private set(s: LinkState): void {
    if (s === this.state) return
    if (s === 'online') this.offlineSince = null
    else if (this.state === 'online') this.offlineSince = this.clock.now()
    this.state = s
    this.since = this.clock.now()
  }
}

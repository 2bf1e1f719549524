/**
 * Backlog replay pacing (replayRate messages/s): an entry queued before the uplink came online is
 * backlog; live entries are never paced. Pure: the time is passed in.
 */
export class Pacer {
  private onlineSince: number
  private nextSendAt = 0

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.onlineSince = now
  }

  /** The uplink came (back) online: what was queued before now is backlog. */
  online(now: number): void {
    this.onlineSince = now
  }

  isBacklog(enqueuedAt: number): boolean {
    return this.rate > 0 && enqueuedAt < this.onlineSince
  }

  /** 0 when a backlog entry may go now (and takes its token), otherwise the ms to wait. */
  wait(now: number): number {
    if (now < this.nextSendAt) return this.nextSendAt - now
    this.nextSendAt = Math.max(now, this.nextSendAt) + 1000 / this.rate
    return 0
  }
}

/** Where a chunk goes: the update's shared topic (every gateway receiving it), or one gateway's own chunk topic. */
export type Step = { index: number; to: 'shared' } | { index: number; to: string }

interface Receiver {
  /** Shared sends made before it joined: its lag starts from there. */
  joinSeq: number
  /** The last chunk index it reported from the shared topic, or -1. */
  last: number
  reportedAt: number
}

/**
 * The operator's plan for one update's chunks, pure (the caller passes the time). The broadcast set
 * (what the gateways' announce answers said they miss) goes out once on the shared topic, in index
 * order, paced: a chunk is sent only while every gateway still keeping up is fewer than `lead` shared
 * chunks behind, so the broker holds at most about `lead` chunks per gateway. A gateway that has not
 * reported for `stallMs` while behind is left out of the pacing (it catches up with its own requests).
 * A gateway's own requests (wants) go to that gateway alone, or to the shared topic when several
 * gateways want the same chunk.
 */
export class ChunkQueue {
  private readonly broadcast = new Set<number>()
  private readonly wanted = new Map<number, Set<string>>()
  private readonly receivers = new Map<string, Receiver>()
  /** Shared sends so far, and the send number of each index's last shared send. */
  private seq = 0
  private readonly seqOf = new Map<number, number>()

  constructor(
    private readonly lead: number,
    private readonly stallMs: number,
  ) {}

  /** Gateway `id` subscribed to the shared topic (its announce answer came) and misses `missing`. */
  join(id: string, missing: Iterable<number>, now: number): void {
    this.receivers.set(id, { joinSeq: this.seq, last: -1, reportedAt: now })
    for (const i of missing) this.broadcast.add(i)
  }

  /** Gateway `id` has every chunk, or gave up: it no longer paces the stream nor wants anything. */
  leave(id: string): void {
    this.receivers.delete(id)
    for (const [i, set] of this.wanted) {
      set.delete(id)
      if (set.size === 0) this.wanted.delete(i)
    }
  }

  /** A progress report: the last chunk index `id` took from the shared topic (-1: none yet). */
  progress(id: string, last: number, now: number): void {
    const r = this.receivers.get(id)
    if (!r) return
    r.reportedAt = now
    if (last >= 0 && this.seqOf.has(last)) r.last = last
  }

  /** Gateway `id` asks for these chunks. */
  want(id: string, indices: Iterable<number>): void {
    for (const i of indices) {
      let set = this.wanted.get(i)
      if (!set) this.wanted.set(i, (set = new Set()))
      set.add(id)
    }
  }

  get idle(): boolean {
    return this.broadcast.size === 0 && this.wanted.size === 0
  }

  /** The shared sends `id` has not reported yet. */
  lag(id: string): number {
    const r = this.receivers.get(id)
    if (!r) return 0
    return this.seq - (r.last >= 0 ? (this.seqOf.get(r.last) ?? r.joinSeq) : r.joinSeq)
  }

  /** Whether a shared send may go now: every gateway keeping up is less than `lead` behind. */
  private sharedOpen(now: number): boolean {
    for (const id of this.receivers.keys()) {
      const r = this.receivers.get(id) as Receiver
      const lag = this.lag(id)
      if (lag >= this.lead && now - r.reportedAt < this.stallMs) return false
    }
    return true
  }

  /**
   * The next chunk to send, or null when nothing may go now (all sent, or the pacing waits for a
   * report). Wants come first (a gateway waits for them), lowest index first.
   */
  next(now: number): Step | null {
    let best: Step | null = null
    for (const [i, set] of this.wanted) {
      if (best !== null && i >= best.index) continue
      if (set.size === 1) best = { index: i, to: set.values().next().value as string }
      else if (this.sharedOpen(now)) best = { index: i, to: 'shared' }
    }
    if (best) return best
    if (this.broadcast.size === 0 || !this.sharedOpen(now)) return null
    let low = Number.POSITIVE_INFINITY
    for (const i of this.broadcast) if (i < low) low = i
    return { index: low, to: 'shared' }
  }

  /** `step` was sent: it leaves the queue (a shared send serves every wanter and the broadcast). */
  sent(step: Step): void {
    if (step.to === 'shared') {
      this.broadcast.delete(step.index)
      this.wanted.delete(step.index)
      this.seqOf.set(step.index, ++this.seq)
      return
    }
    const set = this.wanted.get(step.index)
    set?.delete(step.to)
    if (set?.size === 0) this.wanted.delete(step.index)
  }
}

/** Where a chunk goes: the update's shared topic (every gateway receiving it), or one gateway's own chunk topic. */
export type Step = { index: number; to: 'shared' } | { index: number; to: string }

interface Receiver {
  /** Shared sends made before it joined (or before its connection was new): its lag starts from there. */
  joinSeq: number
  /** The last chunk index it reported from the shared topic in this session, or -1. */
  last: number
  reportedAt: number
  /** When `last` last moved (or it joined): one that stops moving lost messages and is not waited for. */
  advancedAt: number
  /** The connection its reports come from: a new one lost what was in flight. */
  session: string | null
}

/**
 * The operator's plan for one update's chunks, pure (the caller passes the time). The broadcast (what
 * the gateways' announce answers said they miss) goes out once on the shared topic, in index order,
 * paced: a chunk is sent only while no gateway that keeps taking chunks is `lead` or more shared chunks
 * behind, so the broker holds about `lead` chunks per gateway, and only while at least one of them
 * reports at all (a stream to gateways that all went quiet would go to nobody). A gateway whose
 * position has not moved for `stallMs` is not waited for (it lost messages, or went away); when it
 * reports from a new connection its lag starts afresh. A
 * gateway's own requests (wants) go to that gateway alone, or to the shared topic when several want
 * the same chunk; a chunk sent to a gateway alone leaves the broadcast for that gateway.
 */
export class ChunkQueue {
  /** index → the gateways that still need it from the broadcast. */
  private readonly broadcast = new Map<number, Set<string>>()
  /** index → the gateways that asked for it. */
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
    this.receivers.set(id, { joinSeq: this.seq, last: -1, reportedAt: now, advancedAt: now, session: null })
    for (const i of missing) add(this.broadcast, i, id)
  }

  /** Gateway `id` has every chunk, or gave up: it no longer paces the stream nor wants anything. */
  leave(id: string): void {
    this.receivers.delete(id)
    for (const m of [this.broadcast, this.wanted]) for (const i of [...m.keys()]) remove(m, i, id)
  }

  /**
   * A progress report: the last chunk index `id` took from the shared topic in this session (-1: none
   * yet), and the session (connection) it reports from.
   */
  progress(id: string, last: number, session: string | null, now: number): void {
    const r = this.receivers.get(id)
    if (!r) return
    if (session !== r.session) {
      // A new connection (a reconnect, a restart): what was in flight to it is gone, and it asks for that
      // itself. (Its first report only names the connection it joined from.)
      if (r.session !== null) {
        r.joinSeq = this.seq
        r.last = -1
        r.advancedAt = now
      }
      r.session = session
    }
    r.reportedAt = now
    if (last >= 0 && this.seqOf.has(last) && last !== r.last) {
      r.last = last
      r.advancedAt = now
    }
  }

  /** Gateway `id` asks for these chunks. */
  want(id: string, indices: Iterable<number>): void {
    for (const i of indices) add(this.wanted, i, id)
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

  /**
   * Whether a shared send may go now: some gateway still reports, and none is `lead` behind while it
   * keeps moving (one whose position has not moved for `stallMs` lost messages or went away: it asks
   * for what it misses, and is not waited for).
   */
  private sharedOpen(now: number): boolean {
    let listening = 0
    for (const [id, r] of this.receivers) {
      if (now - r.reportedAt < this.stallMs) listening++
      if (now - r.advancedAt < this.stallMs && this.lag(id) >= this.lead) return false
    }
    return listening > 0 || this.receivers.size === 0
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
    for (const i of this.broadcast.keys()) if (i < low) low = i
    return { index: low, to: 'shared' }
  }

  /** `step` was sent: a shared send serves every wanter and the broadcast; one to a gateway serves it alone. */
  sent(step: Step): void {
    if (step.to === 'shared') {
      this.broadcast.delete(step.index)
      this.wanted.delete(step.index)
      this.seqOf.set(step.index, ++this.seq)
      return
    }
    remove(this.wanted, step.index, step.to)
    remove(this.broadcast, step.index, step.to)
  }
}

function add(m: Map<number, Set<string>>, i: number, id: string): void {
  let set = m.get(i)
  if (!set) m.set(i, (set = new Set()))
  set.add(id)
}

function remove(m: Map<number, Set<string>>, i: number, id: string): void {
  const set = m.get(i)
  if (!set) return
  set.delete(id)
  if (set.size === 0) m.delete(i)
}

import type { QueueEntry } from '../core/index.ts'
import { ReadyList } from './ready-list.ts'

export type SendSource = 'resend' | 'live' | 'ready'

/**
 * The entries waiting to go out and the order they go in (the forwarder's state machine decides when):
 * failed ones first, in sequence order; then entries accepted live (live-first); then the backlog read
 * from the queue, skipping what already went out live or is in flight.
 */
export class SendOrder {
  private resend: QueueEntry[] = []
  private readonly ready = new ReadyList()
  private live: QueueEntry[] = []
  /** Sequences sent live (increasing), skipped when the backlog cursor reaches them. */
  private liveSent: bigint[] = []
  private readonly alreadySent = (e: QueueEntry): boolean => this.skipReady(e)

  constructor(private readonly inflight: (seq: bigint) => boolean) {}

  /** Entries waiting in any of the three lists. */
  get waiting(): number {
    return this.resend.length + this.ready.count + this.live.length
  }

  get readyCount(): number {
    return this.ready.count
  }

  get resendCount(): number {
    return this.resend.length
  }

  get liveCount(): number {
    return this.live.length
  }

  /** The next entry to send and the list it came from; undefined when all are empty. */
  next(): { entry: QueueEntry; src: SendSource } | undefined {
    let entry = this.resend.shift()
    if (entry) return { entry, src: 'resend' }
    if ((entry = this.live.shift())) return { entry, src: 'live' }
    if ((entry = this.ready.take(this.alreadySent))) return { entry, src: 'ready' }
    return undefined
  }

  /** Puts back what next() just returned (it must wait for pacing). Only resend and ready entries are paced. */
  putBack(entry: QueueEntry, src: 'resend' | 'ready'): void {
    if (src === 'resend') this.resend.unshift(entry)
    else this.ready.untake()
  }

  addLive(entry: QueueEntry): void {
    this.live.push(entry)
  }

  sentLive(seq: bigint): void {
    this.liveSent.push(seq)
  }

  /** Entries read from the queue, in sequence order. */
  addRead(entries: QueueEntry[]): void {
    this.ready.append(entries)
  }

  addResend(e: QueueEntry): void {
    if (this.resend.some((r) => r.seq === e.seq)) return
    this.resend.push(e)
    this.resend.sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))
  }

  /** An acknowledged entry must not go out again from the resend, ready or live-skip lists. */
  forgetAcked(seq: bigint, liveFirst: boolean): void {
    if (this.resend.length > 0) this.resend = this.resend.filter((r) => r.seq !== seq)
    if (!liveFirst) return
    const i = this.liveSent.indexOf(seq)
    if (i >= 0) {
      // Deleted from the queue now, so the cursor may never meet it; drop it from a read window too.
      this.liveSent.splice(i, 1)
      this.ready.remove(seq)
    }
  }

  private skipReady(e: QueueEntry): boolean {
    if (this.liveSent.length > 0) {
      while (this.liveSent.length > 0 && (this.liveSent[0] as bigint) < e.seq) this.liveSent.shift()
      if (this.liveSent[0] === e.seq) {
        this.liveSent.shift()
        return true
      }
    }
    return this.inflight(e.seq)
  }
}

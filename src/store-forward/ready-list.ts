import type { QueueEntry } from '../core/index.ts'

/**
 * Entries read ahead from the queue and not yet sent, in sequence order. Taken from the front by an
 * index (Array.shift() moves every element: O(n) per entry in a 1,000-entry read-ahead).
 */
export class ReadyList {
  private items: QueueEntry[] = []
  private at = 0

  get count(): number {
    return this.items.length - this.at
  }

  append(entries: readonly QueueEntry[]): void {
    if (this.at > 0) {
      this.items = this.items.slice(this.at)
      this.at = 0
    }
    for (const e of entries) this.items.push(e)
  }

  /** The first entry for which `skip` is false; skipped ones are dropped. */
  take(skip: (e: QueueEntry) => boolean): QueueEntry | undefined {
    while (this.at < this.items.length) {
      const e = this.items[this.at++] as QueueEntry
      if (!skip(e)) return e
    }
    this.items = []
    this.at = 0
    return undefined
  }

  /** Puts back the entry take() just returned (it must wait, e.g. for pacing). */
  untake(): void {
    if (this.at > 0) this.at--
  }

  remove(seq: bigint): void {
    this.items = this.items.slice(this.at).filter((r) => r.seq !== seq)
    this.at = 0
  }
}

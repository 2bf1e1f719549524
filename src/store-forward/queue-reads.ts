/**
 * What the consumer of a durable FIFO has read and not yet deleted, and where its next read starts
 * (part of `QueueState`). Reads go forward in sequence order from the head, so every live entry up to
 * the read position is here, in order: the first one is the queue's head.
 */
export class ReadWindow {
  private pos: bigint | null = null
  /** The highest sequence read: anything above it is new (no lookup first). */
  private top = -1n
  private readonly entries = new Map<bigint, { size: number; at: number }>()

  /** An entry was read (reads go in sequence order); one read again after a rewind keeps its place. */
  read(seq: bigint, size: number, at: number): void {
    if (seq > this.top) {
      this.top = seq
      this.entries.set(seq, { size, at })
    } else if (!this.entries.has(seq)) this.entries.set(seq, { size, at })
    this.pos = seq
  }

  /** The next read starts again at the head. */
  rewind(): void {
    this.pos = null
  }

  /** Where the next read starts: after the last entry read (no re-seek over tombstones), or at the head. */
  from(headSeq: bigint): { after: bigint } | { from: bigint } {
    return this.pos !== null && this.pos >= headSeq ? { after: this.pos } : { from: headSeq }
  }

  /** Charged size of an entry read and not deleted. */
  sizeOf(seq: bigint): number | undefined {
    return this.entries.get(seq)?.size
  }

  deleted(seqs: Iterable<bigint>): void {
    for (const s of seqs) this.entries.delete(s)
  }

  /** The oldest live entry, known from the reads; undefined after a rewind or when none is left. */
  head(): { seq: bigint; at: number } | undefined {
    if (this.pos === null) return undefined
    const first = this.entries.entries().next().value
    return first === undefined ? undefined : { seq: first[0], at: first[1].at }
  }
}

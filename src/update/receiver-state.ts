/**
 * The chunk bookkeeping of an update download, pure: which chunks are on disk, what an arriving chunk
 * is (new, a duplicate, or refused), and which ranges are still missing. The file shell (receiver.ts)
 * writes, syncs and records; this decides.
 */
export interface ChunkPlan {
  size: number
  chunkSize: number
  /** SHA-256 (hex) of each chunk, from the signed manifest. */
  hashes: readonly string[]
}

export interface ChunkState {
  readonly plan: ChunkPlan
  /** 1 where the chunk's bytes are durably on disk and were checked against its hash. */
  readonly done: Uint8Array
  doneCount: number
}

export interface Range {
  offset: number
  length: number
}

export type Offer =
  | { kind: 'new'; index: number }
  | { kind: 'duplicate'; index: number }
  | { kind: 'refused'; reason: string; index?: number }

export function chunkRange(plan: ChunkPlan, index: number): Range {
  const offset = index * plan.chunkSize
  return { offset, length: Math.min(plan.chunkSize, plan.size - offset) }
}

/** A fresh state, or the one recorded before a restart (indices out of range or repeated are ignored). */
export function restoreState(plan: ChunkPlan, recorded: Iterable<number> = []): ChunkState {
  const state: ChunkState = { plan, done: new Uint8Array(plan.hashes.length), doneCount: 0 }
  for (const i of recorded) markDone(state, i)
  return state
}

/**
 * Classifies a chunk that arrived at `offset` with `length` bytes whose SHA-256 is `sha256`. A chunk
 * must cover exactly one planned range; its hash must match the signed one. A chunk already on disk is
 * a duplicate whatever its bytes (they are not written again).
 */
export function offer(state: ChunkState, offset: number, length: number, sha256: string): Offer {
  const { plan } = state
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= plan.size) return { kind: 'refused', reason: `offset ${offset} is outside 0..${plan.size - 1}` }
  if (offset % plan.chunkSize !== 0) return { kind: 'refused', reason: `offset ${offset} is not at a chunk boundary (chunks of ${plan.chunkSize} bytes)` }
  const index = offset / plan.chunkSize
  if (state.done[index] === 1) return { kind: 'duplicate', index }
  const want = chunkRange(plan, index).length
  if (length !== want) return { kind: 'refused', index, reason: `chunk ${index} has ${length} bytes, expected ${want}` }
  if (sha256 !== plan.hashes[index]) return { kind: 'refused', index, reason: `chunk ${index} (offset ${offset}) does not match its signed hash: corrupted on the way` }
  return { kind: 'new', index }
}

/** The index of the chunk at `offset` when it is on disk already, else null (not hashed: a duplicate is dropped whatever its bytes). */
export function isDone(state: ChunkState, offset: number): number | null {
  const { plan } = state
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= plan.size || offset % plan.chunkSize !== 0) return null
  const index = offset / plan.chunkSize
  return state.done[index] === 1 ? index : null
}

/** Records chunk `index` as durably written. */
export function markDone(state: ChunkState, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= state.done.length || state.done[index] === 1) return
  state.done[index] = 1
  state.doneCount++
}

/** Forgets chunks found wrong on disk (the final read-back), so they are asked for again. */
export function markMissing(state: ChunkState, indices: Iterable<number>): void {
  for (const i of indices) {
    if (state.done[i] !== 1) continue
    state.done[i] = 0
    state.doneCount--
  }
}

export function isComplete(state: ChunkState): boolean {
  return state.doneCount === state.done.length
}

/** Up to `max` missing ranges, in offset order, adjacent chunks merged. */
export function missingRanges(state: ChunkState, max = Number.MAX_SAFE_INTEGER): Range[] {
  const out: Range[] = []
  let i = 0
  while (i < state.done.length && out.length < max) {
    if (state.done[i] === 1) {
      i++
      continue
    }
    const start = i
    while (i < state.done.length && state.done[i] === 0) i++
    const first = chunkRange(state.plan, start)
    const last = chunkRange(state.plan, i - 1)
    out.push({ offset: first.offset, length: last.offset + last.length - first.offset })
  }
  return out
}

export function receivedBytes(state: ChunkState): number {
  let n = 0
  for (let i = 0; i < state.done.length; i++) if (state.done[i] === 1) n += chunkRange(state.plan, i).length
  return n
}

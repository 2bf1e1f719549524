import { open, type FileHandle } from 'node:fs/promises'
import { sharedTransferTopic, transferId } from '../topics.ts'
import { ChunkQueue, type Step } from './chunk-queue.ts'
import type { Json, OperatorLink } from './connection.ts'

/** An update as the operator sends it: the signed manifest's text, what it says, and its bytes chunk by chunk. */
export interface UpdatePayload {
  manifestText: string
  version: string
  sha256: string
  size: number
  chunkSize: number
  chunks: number
  /** Chunk `index`'s bytes. */
  read(index: number): Promise<Buffer>
  close(): Promise<void>
}

/** Reads an executable chunk by chunk (one chunk in memory per read). */
export async function fileChunks(path: string, chunkSize: number, size: number): Promise<Pick<UpdatePayload, 'read' | 'close'>> {
  const fh: FileHandle = await open(path, 'r')
  return {
    async read(index) {
      const length = Math.min(chunkSize, size - index * chunkSize)
      const buf = Buffer.allocUnsafe(Math.max(0, length))
      let got = 0
      // Bounded: each read moves forward or the file ended.
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, index * chunkSize + got)
        if (bytesRead === 0) throw new Error(`${path} ended at ${index * chunkSize + got} bytes; the manifest says ${size}`)
        got += bytesRead
      }
      return buf
    },
    close: () => fh.close(),
  }
}

/** `[first, count]` runs (as gateways send them) to indices below `chunks`. */
export function expandRanges(v: unknown, chunks: number): number[] {
  if (!Array.isArray(v)) return []
  const out: number[] = []
  for (const r of v) {
    if (!Array.isArray(r) || !Number.isSafeInteger(r[0]) || !Number.isSafeInteger(r[1])) continue
    const [first, count] = r as [number, number]
    for (let i = Math.max(0, first); i < Math.min(chunks, first + count); i++) out.push(i)
  }
  return out
}

export interface FeederOptions {
  /** Shared chunks a gateway may be behind before the stream waits for it (default 16). */
  lead?: number
  /** Chunks published and not yet acknowledged by the broker (default 4). */
  window?: number
  /** A gateway that has not reported for this long is not waited for (default 5 s). */
  stallMs?: number
}

/**
 * Publishes one update's chunks to the gateways receiving it (fleet/ops/chunk-queue.ts decides what
 * goes where and when): the missing chunks of every gateway once on the shared topic, then each
 * gateway's own requests. Memory: `window` chunks.
 */
export class Feeder {
  readonly stats = { shared: 0, unicast: 0, bytes: 0, wants: 0 }
  readonly transfer: string
  private readonly q: ChunkQueue
  private readonly window: number
  private running = false
  private inflight = 0
  private wake: (() => void) | null = null
  private loop: Promise<void> | null = null

  constructor(
    private readonly link: OperatorLink,
    private readonly payload: UpdatePayload,
    o: FeederOptions = {},
  ) {
    this.transfer = transferId(payload.sha256)
    this.q = new ChunkQueue(o.lead ?? 16, o.stallMs ?? 5000)
    this.window = o.window ?? 4
  }

  /** Gateway `id` accepted the announce and misses `missing`. */
  join(id: string, missing: number[]): void {
    this.q.join(id, missing, Date.now())
    this.kick()
  }

  leave(id: string): void {
    this.q.leave(id)
    this.kick()
  }

  /** A message on `fieldgate/<id>/mgmt/transfer`: progress, and with `missing` a request for chunks. */
  onTransfer(id: string, body: Json): void {
    if (body.transfer !== this.transfer) return
    this.q.progress(id, typeof body.last === 'number' ? body.last : -1, typeof body.session === 'string' ? body.session : null, Date.now())
    if (body.missing !== undefined) {
      this.stats.wants++
      this.q.want(id, expandRanges(body.missing, this.payload.chunks))
    }
    this.kick()
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  async stop(): Promise<void> {
    this.running = false
    this.kick()
    await this.loop
  }

  private kick(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null
        resolve()
      }, ms)
      this.wake = () => {
        clearTimeout(t)
        resolve()
      }
    })
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.link.connected || this.inflight >= this.window) {
        await this.sleep(this.inflight >= this.window ? 50 : 200)
        continue
      }
      const step = this.q.next(Date.now())
      if (!step) {
        await this.sleep(200)
        continue
      }
      this.q.sent(step)
      await this.send(step)
    }
    // Bounded: each publish resolves within its timeout.
    while (this.inflight > 0) await this.sleep(50)
  }

  private async send(step: Step): Promise<void> {
    const bytes = await this.payload.read(step.index)
    const topic = step.to === 'shared' ? `${sharedTransferTopic(this.transfer)}/${step.index}` : `fieldgate/${step.to}/mgmt/req/chunk/${this.transfer}/${step.index}`
    if (step.to === 'shared') this.stats.shared++
    else this.stats.unicast++
    this.stats.bytes += bytes.length
    this.inflight++
    // A chunk lost with a dropped connection is asked for again by the gateways that miss it.
    void this.link.publish(topic, bytes).then(() => {
      this.inflight--
      this.kick()
    })
  }
}

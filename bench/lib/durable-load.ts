/**
 * Load parts for bench/durable.ts: QoS 1 publishers that keep a window of PUBLISHes in flight over a
 * RawClient, a subscriber that checks count, per-publisher order and duplicates, and /proc readers.
 */
import { randomFillSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { RawClient } from './client.ts'
import { publishPayloadStart } from './frames.ts'

export const PAYLOAD_BYTES = 64
/** Bytes of the payload after (publisher, seq). */
const FILL = PAYLOAD_BYTES - 8
/**
 * Random bytes the payload filler is cut from, at a different offset per message: LevelDB compresses
 * blocks with Snappy, and a constant filler would make the disk figures unrealistically small. 1 MB
 * is well beyond Snappy's 64 KB match window.
 */
const POOL = randomFillSync(Buffer.allocUnsafe(1 << 20))

/**
 * Keeps up to `window` QoS 1 PUBLISHes in flight; every PUBACK lets another go. The payload carries
 * (publisher, seq) in its first 8 bytes so the far end can check order and duplicates.
 */
export class WindowPublisher {
  sent = 0
  acked = 0
  private stopped = false
  private nextId = 1
  private client: RawClient | null = null
  private readonly template: Buffer
  private readonly payloadAt: number

  constructor(
    readonly index: number,
    readonly topic: string,
    private readonly window: number,
    /** Messages this publisher sends at most (Infinity for a timed run). */
    private readonly limit: number,
  ) {
    const topicBytes = Buffer.from(topic)
    const remaining = 2 + topicBytes.length + 2 + PAYLOAD_BYTES
    if (remaining > 127) throw new Error(`bench publisher: topic "${topic}" too long for a one-byte remaining length`)
    // PUBLISH, QoS 1, no DUP/RETAIN [MQTT-3.3.1]: 0x32, remaining length, topic, packet id, payload.
    this.template = Buffer.alloc(2 + remaining, 0x61)
    this.template[0] = 0x32
    this.template[1] = remaining
    this.template.writeUInt16BE(topicBytes.length, 2)
    topicBytes.copy(this.template, 4)
    this.payloadAt = 4 + topicBytes.length + 2
    this.template.writeUInt32BE(index, this.payloadAt)
  }

  async connect(port: number, clientId: string): Promise<void> {
    this.client = await RawClient.connect({ port, clientId, onPubacks: (n) => this.onPubacks(n) })
  }

  start(): void {
    this.pump()
  }

  stop(): void {
    this.stopped = true
  }

  get inflight(): number {
    return this.sent - this.acked
  }

  get done(): boolean {
    return this.sent >= this.limit && this.acked >= this.sent
  }

  close(): void {
    this.client?.close()
  }

  private onPubacks(n: number): void {
    this.acked += n
    this.pump()
  }

  /** Fills the window in one socket write. Bounded by the window size. */
  private pump(): void {
    const client = this.client
    if (this.stopped || !client || client.closed) return
    const n = Math.min(this.window - this.inflight, this.limit - this.sent)
    if (n <= 0) return
    const size = this.template.length
    const out = Buffer.allocUnsafe(n * size)
    for (let i = 0; i < n; i++) {
      const at = i * size
      this.template.copy(out, at)
      out.writeUInt16BE(this.nextId, at + this.payloadAt - 2)
      const seq = this.sent + i
      out.writeUInt32BE(seq, at + this.payloadAt + 4)
      const from = ((seq * 7919 + this.index * 104_729) * FILL) % (POOL.length - FILL)
      POOL.copy(out, at + this.payloadAt + 8, from, from + FILL)
      this.nextId = this.nextId === 0xffff ? 1 : this.nextId + 1
    }
    this.sent += n
    client.write(out)
  }
}

/** What arrived at the cloud side, checked per publisher: count, order, duplicates, gaps. */
export class OrderChecker {
  received = 0
  duplicates = 0
  outOfOrder = 0
  foreign = 0
  firstAt = 0
  lastAt = 0
  private readonly seen: Uint8Array[]
  private readonly highest: number[]
  private client: RawClient | null = null

  constructor(
    private readonly publishers: number,
    private readonly perPublisher: number,
  ) {
    this.seen = Array.from({ length: publishers }, () => new Uint8Array(perPublisher))
    this.highest = Array.from({ length: publishers }, () => -1)
  }

  async connect(port: number, filter: string): Promise<void> {
    this.client = await RawClient.connect({
      port,
      clientId: 'durable-bench-subscriber',
      onPublish: (qos, buf, start) => this.onPublish(qos, buf, start),
    })
    await this.client.subscribe(filter, 1)
  }

  /** Distinct messages still missing. */
  get missing(): number {
    return this.publishers * this.perPublisher - (this.received - this.duplicates - this.foreign)
  }

  close(): void {
    this.client?.close()
  }

  private onPublish(qos: number, buf: Buffer, start: number): void {
    const now = performance.now()
    if (this.received++ === 0) this.firstAt = now
    this.lastAt = now
    const p = publishPayloadStart(buf, start, qos)
    const pub = buf.readUInt32BE(p)
    const seq = buf.readUInt32BE(p + 4)
    const seen = this.seen[pub]
    if (!seen || seq >= this.perPublisher) {
      this.foreign++
      return
    }
    if (seen[seq] === 1) {
      this.duplicates++
      return
    }
    seen[seq] = 1
    // A first arrival below the highest seen so far: it was overtaken (a later message came first).
    const high = this.highest[pub] as number
    if (seq < high) this.outOfOrder++
    else this.highest[pub] = seq
  }
}

export interface ProcIo {
  writeBytes: number
  wchar: number
}

/** write_bytes (reached the block layer) and wchar (passed to write()) of `pid`, or null if unreadable. */
export function procIo(pid: number): ProcIo | null {
  try {
    const text = readFileSync(`/proc/${pid}/io`, 'utf8')
    const get = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? NaN)
    return { writeBytes: get('write_bytes'), wchar: get('wchar') }
  } catch {
    return null
  }
}

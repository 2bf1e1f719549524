import type { LoadedSession, Message, RetainedStore, SessionRecord, SessionStore, StoredDelivery } from '../core/index.ts'
import { FieldgateError } from '../core/index.ts'
import { decodeEntry, encodeEntry, readSeq, seqBytes } from './codec.ts'
import type { BatchOp, LevelHandle } from './db.ts'

/*
 * Keys (client ids and topics cannot contain U+0000 [MQTT-1.5.4-2], so NUL separates safely):
 *   s\0<clientId>                 → SessionRecord JSON
 *   o\0<clientId>\0<seq u64 BE>   → u8 state | u16 packetId (0 = none) | encoded message
 *   p\0<clientId>\0<seq u64 BE>   → u8 state | u16 packetId: a later state of that message, which wins
 *                                  over the one in its o record (a blind put, so it joins the group
 *                                  commit; one without an o record is ignored and deleted at load)
 *   i\0<clientId>\0<pid u16 BE>   → (empty)  inbound QoS 2 awaiting PUBREL
 *   m\0sessions\0next             → next outgoing id
 *   r\0<topic>                    → encoded retained message
 */
const STATES: StoredDelivery['state'][] = ['queued', 'sent', 'released']
const EMPTY = Buffer.alloc(0)
const HIGH = Buffer.from([0xff])

function k(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p)))
}

class Serial {
  private lock: Promise<unknown> = Promise.resolve()
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.lock.then(fn)
    this.lock = p.catch(() => undefined)
    return p
  }
}

interface PendingBatch {
  ops: BatchOp[]
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>
  /** The id counter after the last add in this batch; written once per batch, not once per add. */
  next: bigint | null
}

/** Persistent sessions in the gateway's LevelDB; every change is fsynced before it resolves. */
export class LevelSessionStore implements SessionStore {
  private nextId = 0n
  private readonly serial = new Serial()
  private pending: PendingBatch | null = null
  private closed = false
  private static readonly NEXT = k('m\0sessions\0next')

  private constructor(private readonly h: LevelHandle) {}

  static async open(h: LevelHandle): Promise<LevelSessionStore> {
    const s = new LevelSessionStore(h)
    const raw = await h.db.get(LevelSessionStore.NEXT)
    s.nextId = raw === undefined ? 0n : BigInt(raw.toString('utf8'))
    // After a repair the counter may lag the surviving entries: take the larger.
    for await (const key of h.db.keys({ gt: k('o\0'), lt: k('o\x01') })) {
      const id = readSeq(key, key.length - 8) + 1n
      if (id > s.nextId) s.nextId = id
    }
    return s
  }

  private write(ops: BatchOp[]): Promise<void> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', 'session store is closed'))
    return this.h.write(ops, true)
  }

  /**
   * Group commit: writes of calls made while the previous batch is being fsynced share the next batch,
   * in call order, so a burst of QoS 1 deliveries to offline sessions costs one fsync, not one each.
   */
  private batch(ops: BatchOp[], next: bigint | null = null): Promise<void> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', 'session store is closed'))
    let b = this.pending
    if (b === null) {
      const fresh: PendingBatch = { ops: [], waiters: [], next: null }
      this.pending = b = fresh
      void this.serial.run(async () => {
        if (this.pending === fresh) this.pending = null // from now on, new calls start the next batch
        if (fresh.next !== null) fresh.ops.push({ type: 'put', key: LevelSessionStore.NEXT, value: Buffer.from(fresh.next.toString()) })
        try {
          await this.write(fresh.ops)
          for (const w of fresh.waiters) w.resolve()
        } catch (err) {
          for (const w of fresh.waiters) w.reject(err)
        }
      })
    }
    const target = b
    for (const op of ops) target.ops.push(op)
    if (next !== null) target.next = next
    return new Promise<void>((resolve, reject) => target.waiters.push({ resolve, reject }))
  }

  /** Read-modify-write operations run alone, after every batch started before them. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.pending = null // later writes must land after this operation, not in an earlier batch
    return this.serial.run(fn)
  }

  async loadAll(): Promise<LoadedSession[]> {
    const out: LoadedSession[] = []
    const orphans: BatchOp[] = []
    await this.h.ready()
    for await (const [key, value] of this.h.db.iterator({ gt: k('s\0'), lt: k('s\x01') })) {
      const clientId = key.toString('utf8', 2)
      const session = JSON.parse(value.toString('utf8')) as SessionRecord
      const later = new Map<bigint, { key: Buffer; value: Buffer }>()
      for await (const [pk, pv] of this.h.db.iterator({ gt: k('p\0', clientId, '\0'), lt: k('p\0', clientId, '\x01') })) later.set(readSeq(pk, pk.length - 8), { key: pk, value: pv })
      const outgoing: StoredDelivery[] = []
      for await (const [ok, ov] of this.h.db.iterator({ gt: k('o\0', clientId, '\0'), lt: k('o\0', clientId, '\x01') })) {
        const id = readSeq(ok, ok.length - 8)
        const head = later.get(id)?.value ?? ov
        later.delete(id)
        const state = STATES[head.readUInt8(0)] ?? 'queued'
        const pid = head.readUInt16BE(1)
        const d: StoredDelivery = { id, message: decodeEntry(ov.subarray(3)).message, state }
        if (pid !== 0) d.packetId = pid
        outgoing.push(d)
      }
      for (const { key } of later.values()) orphans.push({ type: 'del', key })
      const incomingQos2: number[] = []
      for await (const ik of this.h.db.keys({ gt: k('i\0', clientId, '\0'), lt: k('i\0', clientId, '\x01') })) incomingQos2.push(ik.readUInt16BE(ik.length - 2))
      out.push({ session, outgoing, incomingQos2 })
    }
    if (orphans.length > 0) await this.batch(orphans)
    return out
  }

  saveSession(s: SessionRecord): Promise<void> {
    return this.batch([{ type: 'put', key: k('s\0', s.clientId), value: Buffer.from(JSON.stringify(s)) }])
  }

  deleteSession(clientId: string): Promise<void> {
    return this.exclusive(async () => {
      const ops: BatchOp[] = [{ type: 'del', key: k('s\0', clientId) }]
      await this.h.ready()
      for (const prefix of ['o\0', 'p\0', 'i\0']) {
        for await (const key of this.h.db.keys({ gt: k(prefix, clientId, '\0'), lt: k(prefix, clientId, '\x01') })) ops.push({ type: 'del', key })
      }
      await this.write(ops)
    })
  }

  async addOutgoing(clientId: string, messages: Message[]): Promise<bigint[]> {
    // Ids follow call order; the batch carrying these puts also records the counter past them.
    const ids = messages.map(() => this.nextId++)
    const ops: BatchOp[] = messages.map((m, i) => ({ type: 'put', key: this.outKey(clientId, ids[i] as bigint), value: delivery('queued', undefined, m) }))
    await this.batch(ops, this.nextId)
    return ids
  }

  updateOutgoing(clientId: string, id: bigint, state: StoredDelivery['state'], packetId?: number): Promise<void> {
    const value = Buffer.alloc(3)
    value.writeUInt8(STATES.indexOf(state), 0)
    value.writeUInt16BE(packetId ?? 0, 1)
    return this.batch([{ type: 'put', key: this.stateKey(clientId, id), value }])
  }

  removeOutgoing(clientId: string, id: bigint): Promise<void> {
    return this.batch([
      { type: 'del', key: this.outKey(clientId, id) },
      { type: 'del', key: this.stateKey(clientId, id) },
    ])
  }

  addIncomingQos2(clientId: string, packetId: number): Promise<void> {
    return this.batch([{ type: 'put', key: this.inKey(clientId, packetId), value: EMPTY }])
  }

  removeIncomingQos2(clientId: string, packetId: number): Promise<void> {
    return this.batch([{ type: 'del', key: this.inKey(clientId, packetId) }])
  }

  private outKey(clientId: string, id: bigint): Buffer {
    return k('o\0', clientId, '\0', seqBytes(id))
  }

  private stateKey(clientId: string, id: bigint): Buffer {
    return k('p\0', clientId, '\0', seqBytes(id))
  }

  private inKey(clientId: string, pid: number): Buffer {
    const b = Buffer.alloc(2)
    b.writeUInt16BE(pid)
    return k('i\0', clientId, '\0', b)
  }

  async close(): Promise<void> {
    await this.serial.run(async () => undefined)
    this.closed = true
  }
}

function delivery(state: StoredDelivery['state'], packetId: number | undefined, m: Message): Buffer {
  const head = Buffer.alloc(3)
  head.writeUInt8(STATES.indexOf(state), 0)
  head.writeUInt16BE(packetId ?? 0, 1)
  return Buffer.concat([head, encodeEntry(m, 0)])
}

interface RetainedChange {
  /** The message to keep, or null to delete the topic's record. */
  message: Message | null
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>
}

/**
 * Retained messages. Written without fsync: they survive a crash of the process (the OS holds the
 * write), a power cut may lose the latest updates, and each update would otherwise cost an fsync.
 *
 * Only the latest state of a topic matters, so changes are coalesced: the calls made while a write is
 * in flight (and those of the same turn of the event loop as the first) go to LevelDB as one batch
 * with one record per topic, the last change winning. A stream of retained publishes to a few topics
 * cost one LevelDB write (a thread-pool job and its encoding) per message before, and queued them
 * without bound when the disk was slower than the publishers. A call resolves when a write holding
 * its topic's change, or a later one, has completed.
 */
export class LevelRetainedStore implements RetainedStore {
  private closed = false
  private pending = new Map<string, RetainedChange>()
  private writing: Promise<void> | null = null
  constructor(private readonly h: LevelHandle) {}

  async loadAll(): Promise<Message[]> {
    const out: Message[] = []
    for await (const v of this.h.db.values({ gt: k('r\0'), lt: k('r\0', HIGH) })) out.push(decodeEntry(v).message)
    return out
  }

  put(m: Message): Promise<void> {
    return this.change(m.topic, m)
  }

  delete(topic: string): Promise<void> {
    return this.change(topic, null)
  }

  /** Waits for the changes already made to reach LevelDB; later calls are refused. */
  async close(): Promise<void> {
    this.closed = true
    await this.writing
  }

  private change(topic: string, m: Message | null): Promise<void> {
    if (this.closed) return Promise.reject(new FieldgateError('QUEUE_CLOSED', 'retained store is closed'))
    return new Promise<void>((resolve, reject) => {
      const c = this.pending.get(topic)
      if (c === undefined) this.pending.set(topic, { message: m, waiters: [{ resolve, reject }] })
      else {
        c.message = m
        c.waiters.push({ resolve, reject })
      }
      // A microtask later, so that every publish parsed from the same socket read joins the first batch.
      this.writing ??= Promise.resolve().then(() => this.flush())
    })
  }

  private async flush(): Promise<void> {
    while (this.pending.size > 0) {
      const batch = this.pending
      this.pending = new Map()
      try {
        const ops: BatchOp[] = []
        for (const [topic, c] of batch) {
          ops.push(c.message === null ? { type: 'del', key: k('r\0', topic) } : { type: 'put', key: k('r\0', topic), value: encodeEntry(c.message, 0) })
        }
        await this.h.write(ops, false)
        for (const c of batch.values()) for (const w of c.waiters) w.resolve()
      } catch (err) {
        for (const c of batch.values()) for (const w of c.waiters) w.reject(err)
      }
    }
    this.writing = null
  }
}

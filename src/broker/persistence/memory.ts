import type { LoadedSession, RetainedStore, SessionRecord, SessionStore, StoredDelivery } from '../../core/persistence.ts'
import type { Message } from '../../core/types.ts'
import { FieldgateError } from '../../core/errors.ts'

/**
 * In-memory SessionStore and RetainedStore: the broker's default, and the reference the LevelDB
 * versions are checked against. They copy what they keep and what they return, like a serialising
 * store would, so callers cannot depend on object identity.
 */

interface Entry {
  session: SessionRecord | null
  outgoing: Map<bigint, StoredDelivery>
  incomingQos2: Set<number>
}

function copyMessage(m: Message): Message {
  const out: Message = { topic: m.topic, payload: Buffer.from(m.payload), qos: m.qos, retain: m.retain }
  if (m.properties !== undefined) {
    const p = { ...m.properties }
    if (p.correlationData !== undefined) p.correlationData = Buffer.from(p.correlationData)
    if (p.userProperties !== undefined) p.userProperties = { ...p.userProperties }
    out.properties = p
  }
  if (m.origin !== undefined) out.origin = m.origin
  if (m.receivedAt !== undefined) out.receivedAt = m.receivedAt
  return out
}

function copySession(s: SessionRecord): SessionRecord {
  return { ...s, subscriptions: s.subscriptions.map((x) => ({ ...x })) }
}

export class MemorySessionStore implements SessionStore {
  private readonly clients = new Map<string, Entry>()
  private nextId = 1n
  private closed = false

  async loadAll(): Promise<LoadedSession[]> {
    this.check()
    const out: LoadedSession[] = []
    for (const e of this.clients.values()) {
      if (e.session === null) continue
      out.push({
        session: copySession(e.session),
        outgoing: [...e.outgoing.values()].map((d) => ({ ...d, message: copyMessage(d.message) })),
        incomingQos2: [...e.incomingQos2],
      })
    }
    return out
  }

  async saveSession(s: SessionRecord): Promise<void> {
    this.check()
    this.entry(s.clientId).session = copySession(s)
  }

  async deleteSession(clientId: string): Promise<void> {
    this.check()
    this.clients.delete(clientId)
  }

  async addOutgoing(clientId: string, messages: Message[]): Promise<bigint[]> {
    this.check()
    const e = this.entry(clientId)
    const ids: bigint[] = []
    for (const m of messages) {
      const id = this.nextId++
      e.outgoing.set(id, { id, message: copyMessage(m), state: 'queued' })
      ids.push(id)
    }
    return ids
  }

  async updateOutgoing(clientId: string, id: bigint, state: StoredDelivery['state'], packetId?: number): Promise<void> {
    this.check()
    const d = this.clients.get(clientId)?.outgoing.get(id)
    if (d === undefined) return
    d.state = state
    if (packetId === undefined) delete d.packetId
    else d.packetId = packetId
  }

  async removeOutgoing(clientId: string, id: bigint): Promise<void> {
    this.check()
    this.clients.get(clientId)?.outgoing.delete(id)
  }

  async addIncomingQos2(clientId: string, packetId: number): Promise<void> {
    this.check()
    this.entry(clientId).incomingQos2.add(packetId)
  }

  async removeIncomingQos2(clientId: string, packetId: number): Promise<void> {
    this.check()
    this.clients.get(clientId)?.incomingQos2.delete(packetId)
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private entry(clientId: string): Entry {
    let e = this.clients.get(clientId)
    if (e === undefined) {
      e = { session: null, outgoing: new Map(), incomingQos2: new Set() }
      this.clients.set(clientId, e)
    }
    return e
  }

  private check(): void {
    if (this.closed) throw new FieldgateError('BROKER_CLOSED', 'memory session store is closed; create a new one')
  }
}

export class MemoryRetainedStore implements RetainedStore {
  private readonly messages = new Map<string, Message>()
  private closed = false

  async loadAll(): Promise<Message[]> {
    this.check()
    return [...this.messages.values()].map(copyMessage)
  }

  async put(m: Message): Promise<void> {
    this.check()
    this.messages.set(m.topic, copyMessage(m))
  }

  async delete(topic: string): Promise<void> {
    this.check()
    this.messages.delete(topic)
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private check(): void {
    if (this.closed) throw new FieldgateError('BROKER_CLOSED', 'memory retained store is closed; create a new one')
  }
}

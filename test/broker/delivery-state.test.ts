import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { DeliveryState, INBOUND_THIS, INBOUND_UNKNOWN, type DeliveryCommands } from '../../src/broker/delivery-state.ts'
import type { ClientIdentity } from '../../src/broker/hooks.ts'
import { Session, type Delivery, type SessionLink } from '../../src/broker/session.ts'
import type { Message, Qos } from '../../src/core/types.ts'

/**
 * The broker's QoS 1/2 delivery state machine driven by generated interleavings of messages, client
 * acks (right, duplicated, for unknown ids, of the wrong type), dropped connections and reconnects with
 * and without clean start, against a reference model of the session and a receiver that follows the
 * protocol (QoS 2: ids held from PUBLISH to PUBREL). No sockets, no store, no clock: the commands the
 * machine gives are carried out here.
 */

const IDENTITY: ClientIdentity = { clientId: 'c', info: { remoteAddress: '127.0.0.1', remotePort: 1, listener: 'x', protocol: 'mqtt', allowAnonymous: true } }

function noIo(): never {
  throw new Error('the state machine must not do IO itself')
}

/** Online with a window: the only thing the machine reads of a session's link. */
function windowLink(inflightMax: number): SessionLink {
  return { inflightMax, identity: IDENTITY, sendPublish: noIo, sendPubrel: noIo, disconnect: noIo }
}

/** What happens to a message when it meets the client. */
type Fate = 'ok' | 'expired' | 'denied' | 'refused'

type ToClient = { t: 'publish'; id: number; n: number; qos: Qos; dup: boolean } | { t: 'pubrel'; id: number }
type ToBroker = { t: 'puback'; id: number } | { t: 'pubcomp'; id: number } | { t: 'pubrec'; id: number; rc: number }

type Op =
  | { t: 'msg'; qos: Qos; fate: Fate }
  | { t: 'client' }
  | { t: 'broker' }
  | { t: 'drop' }
  | { t: 'connect'; clean: boolean }
  | { t: 'unknown'; kind: ToBroker['t']; k: number }
  | { t: 'wrongType'; k: number; alt: boolean }
  | { t: 'duplicate' }
  | { t: 'crash' }

const ops: fc.Arbitrary<Op[]> = fc.array(
  fc.oneof(
    { weight: 6, arbitrary: fc.record({ t: fc.constant('msg' as const), qos: fc.constantFrom<Qos>(0, 1, 1, 2, 2), fate: fc.constantFrom<Fate>('ok', 'ok', 'ok', 'ok', 'expired', 'denied', 'refused') }) },
    { weight: 6, arbitrary: fc.constant({ t: 'client' as const }) },
    { weight: 6, arbitrary: fc.constant({ t: 'broker' as const }) },
    { weight: 2, arbitrary: fc.constant({ t: 'drop' as const }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant('connect' as const), clean: fc.constantFrom(false, false, true) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('unknown' as const), kind: fc.constantFrom<ToBroker['t']>('puback', 'pubrec', 'pubcomp'), k: fc.nat(100) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('wrongType' as const), k: fc.nat(100), alt: fc.boolean() }) },
    { weight: 1, arbitrary: fc.constant({ t: 'duplicate' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  ),
  { maxLength: 150, size: 'max' },
)

/** The model's view of a message owed to the session. */
interface Owed {
  n: number
  qos: 1 | 2
  fate: Fate
  /** Its packet id once first sent; released once the client's PUBREC was answered with PUBREL. */
  id: number
  released: boolean
}

class Harness implements DeliveryCommands<Session, number> {
  readonly machine: DeliveryState<Session, number>
  s: Session
  online = false
  toClient: ToClient[] = []
  toBroker: ToBroker[] = []
  /** Receiver: QoS 2 ids held from PUBLISH to PUBREL, and what reached its application, per message. */
  held = new Map<number, number>()
  received = new Map<number, number>()
  /** Model: accepted messages not yet first sent (in order), and those in flight by packet id. */
  queued: Owed[] = []
  inflight = new Map<number, Owed>()
  /** Messages whose delivery ended by the rules without reaching the client (clean start, expired, denied, refused, queue full). */
  excused = new Set<number>()
  /** Every QoS 1/2 message accepted, and those acknowledged to the end. */
  accepted: Owed[] = []
  completed = new Set<number>()
  fates = new Map<number, Fate>()
  /** The session store as the commands left it: message number → [state, packet id]. */
  stored = new Map<Delivery, { state: string; id: number }>()
  lastFirstSent = 0
  /** The message whose read access was asked last: asked before each first send. */
  asked = 0
  fullSeen = 0
  next = 1

  constructor(
    readonly window: number,
    readonly persistent: boolean,
    readonly maxQueued: number,
    readonly startId: number,
  ) {
    this.machine = new DeliveryState({ maxQueuedMessages: maxQueued, maxQueuedBytes: 0 }, this)
    this.s = this.freshSession()
    this.connect(true)
  }

  freshSession(): Session {
    const s = new Session('c', 5, this.persistent ? 3600 : 0)
    if (this.startId > 1) s.notePacketId(this.startId - 1) // so that ids wrap past 65535 within a run
    return s
  }

  /** The session ends (clean start, or a non-persistent session's connection closed): owed messages go with it. */
  endSession(): void {
    for (const o of [...this.queued, ...this.inflight.values()]) this.excused.add(o.n)
    this.queued = []
    this.inflight.clear()
    this.held.clear()
    this.stored.clear() // the registry deletes the session's record
    this.s = this.freshSession()
  }

  connect(clean: boolean): void {
    if (this.online) this.drop()
    if (clean) this.endSession()
    this.online = true
    this.s.link = windowLink(this.window)
    this.machine.resume(this.s)
  }

  drop(): void {
    this.online = false
    this.toClient = []
    this.toBroker = []
    this.s.link = null
    if (!this.persistent) this.endSession()
  }

  // DeliveryCommands

  publishQos0(_s: Session, m: Message): void {
    this.toClient.push({ t: 'publish', id: 0, n: Number(m.topic), qos: 0, dup: false })
  }

  mayDeliver(_s: Session, d: Delivery): boolean {
    const o = this.firstAttempt(d)
    this.asked = o.n
    if (o.fate !== 'denied') return true
    this.excused.add(o.n)
    return false
  }

  publish(s: Session, d: Delivery, dup: boolean): boolean {
    assert.equal(s, this.s)
    assert.ok(this.online, 'sent while offline')
    const n = Number(d.message.topic)
    const fate = this.fates.get(n)
    if (dup) {
      const o = this.inflight.get(d.packetId)
      assert.ok(o !== undefined && o.n === n && !o.released, `resend of ${n} under id ${d.packetId} that the model does not have in flight`)
    } else {
      const o = this.queued[0]
      assert.ok(o !== undefined && o.n === n, `first send of ${n} out of order`)
      assert.equal(this.asked, n, `${n} first sent without asking for read access`)
      this.queued.shift()
      assert.ok(d.packetId >= 1 && d.packetId <= 65535, `packet id ${d.packetId}`)
      assert.ok(!this.inflight.has(d.packetId), `packet id ${d.packetId} given to ${n} while in flight`)
      const held = this.held.get(d.packetId)
      assert.ok(held === undefined, `packet id ${d.packetId} given to ${n} while the client holds it for ${held}`)
      assert.ok(this.inflight.size < this.window, 'window exceeded')
      o.id = d.packetId
      if (fate !== 'expired') this.inflight.set(d.packetId, o)
    }
    if (fate === 'expired') {
      if (dup) this.inflight.delete(d.packetId)
      this.excused.add(n)
      return false
    }
    this.toClient.push({ t: 'publish', id: d.packetId, n, qos: d.qos, dup })
    return true
  }

  pubrel(_s: Session, packetId: number): void {
    const o = this.inflight.get(packetId)
    assert.ok(o?.released === true, `PUBREL resent for ${packetId}, not released`)
    this.toClient.push({ t: 'pubrel', id: packetId })
  }

  store(s: Session, d: Delivery): number {
    assert.ok(s.persistent)
    assert.ok(!this.stored.has(d))
    this.stored.set(d, { state: 'queued', id: 0 })
    return Number(d.message.topic)
  }

  update(_s: Session, d: Delivery): void {
    const r = this.stored.get(d)
    assert.ok(r !== undefined, 'update of a message not stored')
    assert.equal(d.qos, 2, "QoS 1 'sent' is not stored")
    r.state = d.state
    r.id = d.packetId
  }

  remove(_s: Session, d: Delivery): void {
    assert.ok(this.stored.delete(d), 'removal of a message not stored')
  }

  full(): void {
    this.fullSeen++
  }

  storeInbound(): void {
    noIo()
  }

  removeInbound(): void {
    noIo()
  }

  private firstAttempt(d: Delivery): Owed {
    const o = this.queued[0]
    const n = Number(d.message.topic)
    assert.ok(o !== undefined && o.n === n, `message ${n} taken out of order (next is ${o?.n})`)
    assert.ok(n > this.lastFirstSent)
    this.lastFirstSent = n
    if (o.fate === 'denied') this.queued.shift()
    return o
  }

  // the world

  step(op: Op): void {
    switch (op.t) {
      case 'msg':
        return this.message(op.qos, op.fate)
      case 'client':
        return this.clientStep()
      case 'broker':
        return this.brokerStep()
      case 'drop':
        if (this.online) this.drop()
        return
      case 'connect':
        return this.connect(op.clean)
      case 'unknown':
        if (this.online) this.toBroker.unshift(op.kind === 'pubrec' ? { t: 'pubrec', id: 40_000 + op.k, rc: 0 } : op.kind === 'puback' ? { t: 'puback', id: 40_000 + op.k } : { t: 'pubcomp', id: 40_000 + op.k })
        return
      case 'wrongType': {
        const all = [...this.inflight.values()]
        const o = all[op.k % Math.max(1, all.length)]
        if (!this.online || o === undefined) return
        let p: ToBroker
        if (o.qos === 1) p = op.alt ? { t: 'pubrec', id: o.id, rc: 0 } : { t: 'pubcomp', id: o.id }
        else if (!o.released && op.alt) p = { t: 'pubcomp', id: o.id }
        else p = { t: 'puback', id: o.id }
        this.toBroker.unshift(p)
        return
      }
      case 'duplicate': {
        const p = this.toBroker[0]
        if (p !== undefined) this.toBroker.unshift({ ...p })
        return
      }
      case 'crash':
        return this.crash()
    }
  }

  /** The broker process restarts: the session comes back from the store (as sessions.ts restores it); the client keeps its state. */
  crash(): void {
    const wasOnline = this.online
    this.online = false
    this.toClient = []
    this.toBroker = []
    this.lastFirstSent = 0
    if (!this.persistent) {
      if (wasOnline) this.endSession()
      return
    }
    const s = new Session('c', 5, 3600)
    const byMessage = new Map<Message, { state: string; id: number }>()
    let k = 0n
    for (const [d, r] of this.stored) {
      byMessage.set(d.message, r)
      this.machine.restore(s, { id: k++, message: d.message, state: r.state as Delivery['state'], ...(r.id === 0 ? {} : { packetId: r.id }) })
    }
    this.stored = new Map([...s.inflight.values(), ...s.queue].map((d) => [d, byMessage.get(d.message) ?? { state: '?', id: -1 }]))
    this.s = s
    // the model: a QoS 2 message stored with its id is in flight again under it; the rest goes out again under new ids
    const owed = [...this.queued, ...this.inflight.values()].sort((a, b) => a.n - b.n)
    this.queued = []
    this.inflight.clear()
    for (const o of owed) {
      if (o.qos === 2 && o.id !== 0) this.inflight.set(o.id, o)
      else {
        o.id = 0
        this.queued.push(o)
      }
    }
    this.checkSession()
  }

  message(qos: Qos, fate: Fate): void {
    const n = this.next++
    this.fates.set(n, fate)
    const m: Message = { topic: String(n), payload: Buffer.alloc(0), qos, retain: false }
    const direct = this.online && this.queued.length === 0 && this.inflight.size < this.window
    const kept = qos > 0 && (this.online || this.persistent) && (direct || this.maxQueued === 0 || this.queued.length < this.maxQueued)
    const full = this.fullSeen
    let o: Owed | null = null
    if (kept) {
      o = { n, qos: qos as 1 | 2, fate, id: 0, released: false }
      this.queued.push(o)
      this.accepted.push(o)
    }
    const handle = this.machine.deliver(this.s, m, qos, false, null)
    assert.equal(handle, kept && this.persistent ? n : undefined, 'a persistent session stores what it keeps')
    assert.equal(this.fullSeen - full, qos > 0 && (this.online || this.persistent) && !kept ? 1 : 0, 'queue limit')
    this.checkSession()
  }

  clientStep(): void {
    const p = this.toClient.shift()
    if (p === undefined) return
    if (p.t === 'pubrel') {
      this.held.delete(p.id)
      this.toBroker.push({ t: 'pubcomp', id: p.id })
      return
    }
    if (p.qos === 0) return this.got(p.n)
    const fate = this.fates.get(p.n)
    if (p.qos === 1) {
      this.got(p.n)
      this.toBroker.push({ t: 'puback', id: p.id })
      return
    }
    const held = this.held.get(p.id)
    if (held !== undefined) {
      // a resend: the same message, not given to the application again [MQTT-4.3.3-10]
      assert.equal(held, p.n, `id ${p.id} held for ${held} arrived with ${p.n}`)
      assert.ok(p.dup, 'a QoS 2 resend has DUP set')
    } else if (fate === 'refused') {
      this.toBroker.push({ t: 'pubrec', id: p.id, rc: 0x80 })
      return
    } else {
      this.held.set(p.id, p.n)
      this.got(p.n)
    }
    this.toBroker.push({ t: 'pubrec', id: p.id, rc: 0 })
  }

  got(n: number): void {
    const count = (this.received.get(n) ?? 0) + 1
    this.received.set(n, count)
    const o = this.accepted.find((a) => a.n === n)
    if (o?.qos === 2) assert.equal(count, 1, `QoS 2 message ${n} reached the application twice`)
  }

  brokerStep(): void {
    const p = this.toBroker.shift()
    if (p === undefined) return
    const o = this.inflight.get(p.id)
    const s = this.s
    // the model first: a freed slot is used by the machine at once
    if (p.t === 'puback') {
      if (o?.qos === 1) this.done(o)
      this.machine.onPuback(s, p.id)
    } else if (p.t === 'pubcomp') {
      if (o?.qos === 2 && o.released) this.done(o)
      this.machine.onPubcomp(s, p.id)
    } else {
      const expected = o?.qos !== 2 ? 'unknown' : p.rc >= 0x80 ? 'none' : 'pubrel'
      if (o !== undefined && expected === 'none') {
        this.excused.add(o.n)
        this.done(o)
      } else if (o !== undefined && expected === 'pubrel') o.released = true
      assert.equal(this.machine.onPubrec(s, p.id, p.rc), expected)
      // the shell answers on the connection (a PUBREL, with 0x92 for v5 when the id is unknown)
      if (expected !== 'none') this.toClient.push({ t: 'pubrel', id: p.id })
    }
    this.checkSession()
  }

  done(o: Owed): void {
    this.inflight.delete(o.id)
    this.completed.add(o.n)
  }

  /** The machine's session against the model, after every step. */
  checkSession(): void {
    const s = this.s
    assert.ok(s.inflight.size <= this.window, `${s.inflight.size} in flight, window ${this.window}`)
    assert.deepEqual(
      [...s.inflight.values()].map((d) => [d.packetId, Number(d.message.topic), d.state]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [...this.inflight.values()].map((o) => [o.id, o.n, o.released ? 'released' : 'sent']).sort((a, b) => Number(a[0]) - Number(b[0])),
      'in flight as the model has it',
    )
    for (const [id, d] of s.inflight) assert.equal(d.packetId, id)
    assert.deepEqual(
      s.queue.map((d) => Number(d.message.topic)),
      this.queued.map((o) => o.n),
      'queued as the model has it, in order',
    )
    if (!this.persistent) return assert.equal(this.stored.size, 0)
    const live = new Set<Delivery>([...s.queue, ...s.inflight.values()])
    assert.equal(this.stored.size, live.size, 'the store holds what the session owes')
    for (const [d, r] of this.stored) {
      assert.ok(live.has(d), `message ${d.message.topic} still stored after it was done`)
      if (d.qos === 2 && d.state !== 'queued') assert.deepEqual(r, { state: d.state, id: d.packetId }, 'QoS 2 state stored with its id')
    }
  }

  /** Online for good, then every packet is answered until nothing moves (bounded). */
  settle(): void {
    if (!this.online) this.connect(false)
    for (let i = 0; i < 10_000; i++) {
      if (this.toClient.length > 0) this.clientStep()
      else if (this.toBroker.length > 0) this.brokerStep()
      else return
    }
    assert.fail('did not settle')
  }
}

function check(h: Harness): void {
  h.settle()
  h.checkSession()
  assert.equal(h.s.inflight.size, 0, 'nothing in flight once every ack is in')
  assert.equal(h.s.queue.length, 0, 'nothing queued once every ack is in')
  assert.equal(h.stored.size, 0, 'nothing left in the store')
  assert.equal(h.held.size, 0, 'the client holds no QoS 2 id')
  for (const o of h.accepted) {
    const got = h.received.get(o.n) ?? 0
    if (h.excused.has(o.n)) continue
    assert.ok(h.completed.has(o.n), `message ${o.n} was never acknowledged`)
    if (o.qos === 1) assert.ok(got >= 1, `QoS 1 message ${o.n} never reached the client`)
    else assert.equal(got, 1, `QoS 2 message ${o.n} reached the client ${got} times`)
  }
}

test('any interleaving of messages, acks (right, duplicate, unknown, wrong type), drops, reconnects and restarts keeps order, the window and the QoS guarantees', () => {
  fc.assert(
    fc.property(ops, fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.constantFrom(0, 1, 3), fc.constantFrom(1, 65_530), (seq, window, persistent, maxQueued, startId) => {
      const h = new Harness(window, persistent, maxQueued, startId)
      for (const op of seq) h.step(op)
      check(h)
    }),
    { numRuns: 1000, includeErrorInReport: true },
  )
})

type InToBroker = { t: 'publish'; id: number; n: number; dup: boolean } | { t: 'pubrel'; id: number }
type InToClient = { t: 'pubrec'; id: number; rc: number } | { t: 'pubcomp'; id: number }
type InOp = { t: 'send' } | { t: 'resend'; k: number } | { t: 'client' } | { t: 'broker'; refuse: boolean } | { t: 'drop' } | { t: 'connect'; clean: boolean } | { t: 'crash' }

const inOps: fc.Arbitrary<InOp[]> = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constant({ t: 'send' as const }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('resend' as const), k: fc.nat(10) }) },
    { weight: 5, arbitrary: fc.constant({ t: 'client' as const }) },
    { weight: 5, arbitrary: fc.record({ t: fc.constant('broker' as const), refuse: fc.constantFrom(false, false, false, true) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'drop' as const }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('connect' as const), clean: fc.constantFrom(false, false, true) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  ),
  { maxLength: 120, size: 'max' },
)

/** Packet ids the publishing client uses: few, so that they are reused often. */
const CLIENT_IDS = [1, 2, 3]

/** A QoS 2 publisher (following the protocol) and the broker's inbound side of the machine. */
class InboundHarness implements DeliveryCommands<Session, number> {
  readonly machine = new DeliveryState<Session, number>({ maxQueuedMessages: 0, maxQueuedBytes: 0 }, this)
  s: Session
  serial = 1
  online = true
  toBroker: InToBroker[] = []
  toClient: InToClient[] = []
  /** Client: its messages awaiting PUBREC ('publish') or PUBCOMP ('pubrel'), by packet id. */
  outgoing = new Map<number, { n: number; stage: 'publish' | 'pubrel' }>()
  next = 1
  /** Model of the broker: ids accepted and not released → message and the connection it came on. */
  accepted = new Map<number, { n: number; serial: number }>()
  routed = new Map<number, number>()
  /** Refused once by an in-process subscriber: a resend is routed again (the message was not taken). */
  refused = new Set<number>()
  completed = new Set<number>()
  excused = new Set<number>()
  storedIds = new Set<number>()

  /** v5 refuses with PUBREC 0x80; 3.1.1 cannot say no and is disconnected, but may resend on the same connection. */
  constructor(
    readonly persistent: boolean,
    readonly v5: boolean,
  ) {
    this.s = this.freshSession()
  }

  freshSession(): Session {
    const s = new Session('p', 5, this.persistent ? 3600 : 0)
    s.link = windowLink(1)
    return s
  }

  endSession(): void {
    for (const o of this.outgoing.values()) this.excused.add(o.n)
    this.outgoing.clear()
    this.accepted.clear()
    this.storedIds.clear()
    this.s = this.freshSession()
  }

  step(op: InOp): void {
    switch (op.t) {
      case 'send': {
        const id = CLIENT_IDS.find((i) => !this.outgoing.has(i))
        if (!this.online || id === undefined) return
        const n = this.next++
        this.outgoing.set(id, { n, stage: 'publish' })
        this.toBroker.push({ t: 'publish', id, n, dup: false })
        return
      }
      case 'resend': {
        const all = [...this.outgoing]
        const picked = all[op.k % Math.max(1, all.length)]
        if (!this.online || picked === undefined || this.v5) return // v5 resends only on a new connection [MQTT-4.4.0-1]
        const [id, o] = picked
        this.toBroker.push(o.stage === 'publish' ? { t: 'publish', id, n: o.n, dup: true } : { t: 'pubrel', id })
        return
      }
      case 'client':
        return this.clientStep()
      case 'broker':
        return this.brokerStep(op.refuse)
      case 'drop':
        if (this.online) this.drop()
        return
      case 'connect':
        if (this.online) this.drop()
        if (op.clean) this.endSession()
        this.online = true
        // the client resends what it has not finished, PUBLISH with DUP set, or PUBREL
        for (const [id, o] of this.outgoing) this.toBroker.push(o.stage === 'publish' ? { t: 'publish', id, n: o.n, dup: true } : { t: 'pubrel', id })
        return
      case 'crash': {
        // the broker restarts: a persistent session gets back the ids whose message was stored
        if (this.online) this.drop()
        if (!this.persistent) return
        const s = this.freshSession()
        this.machine.restoreInbound(s, [...this.storedIds])
        this.s = s
        this.accepted = new Map([...this.accepted].filter(([id]) => this.storedIds.has(id)).map(([id, a]) => [id, { n: a.n, serial: -1 }]))
        return
      }
    }
  }

  drop(): void {
    this.online = false
    this.toBroker = []
    this.toClient = []
    this.serial++
    if (!this.persistent) this.endSession()
  }

  clientStep(): void {
    const p = this.toClient.shift()
    if (p === undefined) return
    const o = this.outgoing.get(p.id)
    if (o === undefined) return
    if (p.t === 'pubrec') {
      if (p.rc >= 0x80) {
        // v5: the broker refused it; the flow ends
        if (o.stage === 'publish') this.outgoing.delete(p.id)
        if (o.stage === 'publish') this.excused.add(o.n)
        return
      }
      o.stage = 'pubrel'
      this.toBroker.push({ t: 'pubrel', id: p.id })
    } else if (o.stage === 'pubrel') {
      this.outgoing.delete(p.id)
      this.completed.add(o.n)
    }
  }

  brokerStep(refuse: boolean): void {
    const p = this.toBroker.shift()
    if (p === undefined) return
    const s = this.s
    const known = this.accepted.get(p.id)
    if (p.t === 'pubrel') {
      const found = this.machine.inboundQos2Done(s, this.serial, p.id)
      assert.equal(found, known === undefined ? INBOUND_UNKNOWN : known.serial === this.serial ? INBOUND_THIS : 1)
      this.accepted.delete(p.id)
      this.toClient.push({ t: 'pubcomp', id: p.id })
    } else {
      const state = this.machine.inboundQos2State(s, this.serial, p.id, p.dup)
      assert.equal(state, known === undefined ? 'new' : 'dup', `PUBLISH ${p.id} (message ${p.n}, dup ${p.dup})`)
      if (state === 'dup') {
        assert.equal(known?.n, p.n, 'an id awaiting PUBREL is only resent with its own message')
        this.toClient.push({ t: 'pubrec', id: p.id, rc: 0 })
      } else {
        this.machine.inboundQos2Add(s, this.serial, p.id)
        this.accepted.set(p.id, { n: p.n, serial: this.serial })
        const routed = (this.routed.get(p.n) ?? 0) + 1
        this.routed.set(p.n, routed)
        if (!this.refused.has(p.n)) assert.equal(routed, 1, `message ${p.n} routed twice`)
        if (refuse) {
          this.refused.add(p.n)
          // an in-process subscriber refused it: the id is freed so that a resend is routed again
          assert.equal(this.machine.inboundQos2Done(s, this.serial, p.id), INBOUND_THIS)
          this.accepted.delete(p.id)
          if (this.v5) this.toClient.push({ t: 'pubrec', id: p.id, rc: 0x80 })
          else this.drop()
        } else {
          this.machine.inboundQos2Stored(s, p.id)
          assert.equal(this.storedIds.has(p.id), this.persistent, 'a persistent session stores the id once its message is stored')
          this.toClient.push({ t: 'pubrec', id: p.id, rc: 0 })
        }
      }
    }
    assert.deepEqual([...(this.s.incomingQos2?.keys() ?? [])].sort(), [...this.accepted.keys()].sort(), 'ids awaiting PUBREL as the model has them')
    for (const id of this.storedIds) assert.ok(this.accepted.has(id), `inbound id ${id} still stored after its PUBREL`)
  }

  settle(): void {
    if (!this.online) this.step({ t: 'connect', clean: false })
    for (let i = 0; i < 10_000; i++) {
      if (this.toBroker.length > 0) this.brokerStep(false)
      else if (this.toClient.length > 0) this.clientStep()
      else return
    }
    assert.fail('did not settle')
  }

  storeInbound(s: Session, packetId: number): void {
    assert.ok(s.persistent)
    this.storedIds.add(packetId)
  }

  removeInbound(s: Session, packetId: number): void {
    assert.ok(s.persistent)
    this.storedIds.delete(packetId)
  }

  publishQos0 = noIo
  publish = noIo
  pubrel = noIo
  mayDeliver = noIo
  store = noIo
  update = noIo
  remove = noIo
  full = noIo
}

test('an inbound QoS 2 message is routed exactly once through resends, refusals, drops, reconnects and restarts, and its id is freed by PUBREL', () => {
  fc.assert(
    fc.property(inOps, fc.boolean(), fc.boolean(), (seq, persistent, v5) => {
      const h = new InboundHarness(persistent, v5)
      for (const op of seq) h.step(op)
      h.settle()
      assert.equal(h.outgoing.size, 0, 'the client finished every message')
      assert.equal(h.s.incomingQos2?.size ?? 0, 0, 'no id awaits PUBREL')
      assert.equal(h.storedIds.size, 0, 'no inbound id left in the store')
      for (let n = 1; n < h.next; n++) {
        if (h.excused.has(n)) continue
        assert.ok(h.completed.has(n), `message ${n} never completed`)
        if (h.refused.has(n)) assert.ok((h.routed.get(n) ?? 0) >= 1)
        else assert.equal(h.routed.get(n), 1, `message ${n} routed ${h.routed.get(n) ?? 0} times`)
      }
    }),
    { numRuns: 1000, includeErrorInReport: true },
  )
})

test('a fresh PUBLISH on an id awaiting PUBREL is a reuse on its own connection and a resend on a later one', () => {
  const h = new InboundHarness(true, true)
  const m = h.machine
  assert.equal(m.inboundQos2State(h.s, 1, 7, false), 'new')
  m.inboundQos2Add(h.s, 1, 7)
  assert.equal(m.inboundQos2State(h.s, 1, 7, false), 'reused')
  assert.equal(m.inboundQos2State(h.s, 1, 7, true), 'dup')
  assert.equal(m.inboundQos2State(h.s, 2, 7, false), 'dup')
  assert.equal(m.inboundQos2Done(h.s, 2, 7), 1)
  assert.equal(m.inboundQos2Done(h.s, 2, 7), INBOUND_UNKNOWN)
})

test('a PUBCOMP for a QoS 2 message the client has not acknowledged with PUBREC leaves it in flight', () => {
  const h = new Harness(2, true, 0, 1)
  h.step({ t: 'msg', qos: 2, fate: 'ok' })
  const [d] = h.s.inflight.values()
  assert.ok(d !== undefined)
  h.machine.onPubcomp(h.s, d.packetId)
  assert.equal(h.s.inflight.get(d.packetId), d)
  check(h)
})

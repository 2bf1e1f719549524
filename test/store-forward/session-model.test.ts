import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import fc from 'fast-check'
import { MqttBroker } from '../../src/broker/broker.ts'
import type { Connection } from '../../src/broker/connection.ts'
import type { ClientIdentity } from '../../src/broker/hooks.ts'
import { Session, type SessionLink } from '../../src/broker/session.ts'
import { brokerSchema } from '../../src/config/sections/broker.ts'
import { FakeClock } from '../../src/core/clock.ts'
import { silentLogger } from '../../src/core/logger.ts'
import type { Message, Qos } from '../../src/core/types.ts'
import { openStore, type GatewayStore } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'
import { brokerSettings } from '../../src/gateway/options/broker.ts'

/*
 * Model test of a persistent session's queue on a real LevelDB: random interleavings of publishes
 * (QoS 1 and 2, never awaited), connects with small in-flight windows, acknowledgements in any order,
 * disconnects, clean starts, graceful restarts and crashes (the store closed with the broker's later
 * steps never issued). After every restart the session must hold, in publish order, every message
 * acknowledged to its publisher that its subscriber has not finished, and nothing it must not.
 */

const CLIENT = 'model-sub'
const NOW = 1_000_000

class FakeLink implements SessionLink {
  readonly sent: Array<{ seq: number; packetId: number; dup: boolean }> = []
  readonly identity: ClientIdentity = { clientId: CLIENT, info: { remoteAddress: '127.0.0.1', remotePort: 1, listener: 'x', protocol: 'mqtt', allowAnonymous: true } }
  readonly v5 = false
  constructor(readonly inflightMax: number) {}
  sendPublish(m: Message, _qos: Qos, _retain: boolean, packetId: number, dup: boolean): boolean {
    this.sent.push({ seq: Number(m.topic.slice(2)), packetId, dup })
    return true
  }
  sendPubrel(): void {}
  sendAck(): void {}
  disconnect(): void {}
}

interface Model {
  next: number
  /** seq → its QoS, for every message published to the current session incarnation. */
  published: Map<number, Qos>
  /** seqs whose publisher would have had its PUBACK/PUBREC (the store promise resolved). */
  durable: Set<number>
  /** seqs the subscriber finished (PUBACK, or PUBCOMP for QoS 2). */
  finished: Set<number>
}

class World {
  broker!: MqttBroker
  store!: GatewayStore
  session!: Session
  link: FakeLink | null = null
  constructor(readonly dir: string) {}

  async open(): Promise<void> {
    this.store = await openStore(storeOptionsFor(this.dir), silentLogger)
    this.broker = new MqttBroker({
      ...brokerSettings(brokerSchema.parse({ listeners: [], sys_interval: 0, limits: { max_queued_messages: 0, max_queued_bytes: 0 } })),
      logger: silentLogger,
      gatewayId: 't',
      clock: new FakeClock(NOW),
      sessions: this.store.sessions,
    })
    this.broker.sessions.restore(await this.store.sessions.loadAll())
    const s = this.broker.sessions.map.get(CLIENT)
    if (s !== undefined) this.session = s
    else this.fresh()
    this.link = null
  }

  /** A new persistent session record (first start, or a clean start replacing the old one). */
  fresh(): void {
    const s = new Session(CLIENT, 4, 3600)
    s.stored = true
    s.disconnectedAt = NOW
    this.broker.sessions.map.set(CLIENT, s)
    this.broker.persistence.saveSession(s)
    this.session = s
  }

  /** Sequence numbers the session holds (queued or in flight), in store order. */
  held(): number[] {
    const s = this.session
    const all = [...s.inflight.values(), ...s.queue]
    assert.ok(
      all.every((d) => d.storeId !== null),
      'restored deliveries carry their store id',
    )
    return all.sort((a, b) => ((a.storeId ?? 0n) < (b.storeId ?? 0n) ? -1 : 1)).map((d) => Number(d.message.topic.slice(2)))
  }
}

type Cmd = fc.AsyncCommand<Model, World>

class Publish implements Cmd {
  constructor(readonly qos: 1 | 2) {}
  check = (): boolean => true
  async run(m: Model, w: World): Promise<void> {
    const seq = m.next++
    m.published.set(seq, this.qos)
    const msg: Message = { topic: `t/${seq}`, payload: Buffer.from(String(seq)), qos: this.qos, retain: false, receivedAt: NOW }
    const p = w.broker.delivery.deliver(w.session, msg, this.qos, false, null)
    assert.ok(p !== undefined, 'a QoS 1/2 delivery to a persistent session gives the publisher something to wait for')
    // seqs are never reused, and a clean start clears `published`: a late answer for a dropped session is ignored
    p.then(
      () => {
        if (m.published.has(seq)) m.durable.add(seq)
      },
      () => undefined,
    )
  }
  toString = (): string => `publish(q${this.qos})`
}

class Connect implements Cmd {
  constructor(readonly window: number) {}
  check = (): boolean => true
  async run(_m: Model, w: World): Promise<void> {
    if (w.link !== null) return
    w.link = new FakeLink(this.window)
    w.session.link = w.link
    w.broker.delivery.resume(w.session)
  }
  toString = (): string => `connect(${this.window})`
}

class Disconnect implements Cmd {
  check = (): boolean => true
  async run(_m: Model, w: World): Promise<void> {
    w.session.link = null
    w.link = null
  }
  toString = (): string => 'disconnect'
}

/** The subscriber answers the k-th in-flight message: PUBACK, PUBREC, or PUBCOMP for a released one. */
class Answer implements Cmd {
  constructor(readonly k: number) {}
  check = (): boolean => true
  async run(m: Model, w: World): Promise<void> {
    const link = w.link
    const inflight = [...w.session.inflight.values()]
    if (link === null || inflight.length === 0) return
    const d = inflight[this.k % inflight.length]
    if (d === undefined) return
    const seq = Number(d.message.topic.slice(2))
    if (d.qos === 1) {
      w.broker.delivery.onPuback(w.session, d.packetId)
      m.finished.add(seq)
    } else if (d.state === 'sent') {
      w.broker.delivery.onPubrec(link as unknown as Connection, w.session, d.packetId, 0)
    } else {
      w.broker.delivery.onPubcomp(w.session, d.packetId)
      m.finished.add(seq)
    }
  }
  toString = (): string => `answer(${this.k})`
}

class CleanStart implements Cmd {
  check = (): boolean => true
  async run(m: Model, w: World): Promise<void> {
    w.broker.sessions.drop(w.session)
    w.fresh()
    w.link = null
    m.published.clear()
    m.durable.clear()
    m.finished.clear()
  }
  toString = (): string => 'cleanStart'
}

/** graceful: every step issued so far lands first. crash: the store closes now; steps still waiting for an add are never issued. */
class Restart implements Cmd {
  constructor(readonly graceful: boolean) {}
  check = (): boolean => true
  async run(m: Model, w: World): Promise<void> {
    if (this.graceful) await w.broker.persistence.flush()
    await w.store.close()
    await w.open()
    const held = w.held()
    const owed = [...m.published.keys()].filter((seq) => !m.finished.has(seq))
    if (this.graceful) {
      assert.deepEqual(held, owed, 'after a graceful restart the session holds exactly what is owed, in order')
    } else {
      assert.deepEqual(held, [...held].sort((a, b) => a - b), 'publish order')
      for (const seq of held) assert.ok(m.published.has(seq), `t/${seq} does not belong to this session`)
      const missing = owed.filter((seq) => m.durable.has(seq) && !held.includes(seq))
      assert.deepEqual(missing, [], 'acknowledged to the publisher, not finished by the subscriber, yet lost')
    }
    // The model restarts from what the store holds: a finished message that came back is owed again (a duplicate).
    for (const seq of held) m.finished.delete(seq)
    for (const seq of [...m.published.keys()]) if (!held.includes(seq)) m.published.delete(seq)
  }
  toString = (): string => (this.graceful ? 'restart' : 'crash')
}

const commands = [
  fc.constantFrom(1 as const, 2 as const).map((q) => new Publish(q)),
  fc.integer({ min: 1, max: 4 }).map((n) => new Connect(n)),
  fc.constant(new Disconnect()),
  fc.nat(8).map((k) => new Answer(k)),
  fc.nat(8).map((k) => new Answer(k)),
  fc.constant(new CleanStart()),
  fc.boolean().map((g) => new Restart(g)),
]

test('a persistent session queue keeps publish order and loses nothing acknowledged through any interleaving of publishes, acks, clean starts, restarts and crashes', { timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir('fieldgate-session-model-')
  let run = 0
  try {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
        const runDir = join(dir, String(run++))
        mkdirSync(runDir)
        const w = new World(runDir)
        await w.open()
        const model: Model = { next: 0, published: new Map(), durable: new Set(), finished: new Set() }
        try {
          await fc.asyncModelRun(() => ({ model, real: w }), cmds)
          await new Restart(true).run(model, w)
        } finally {
          await w.store.close().catch(() => undefined)
        }
      }),
      { numRuns: 60, seed: 20261202 },
    )
  } finally {
    cleanup()
  }
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { LoadedSession, Message, RetainedStore, SessionRecord, SessionStore } from '../../src/core/index.ts'

export interface PersistenceHarness {
  sessions: SessionStore
  retained: RetainedStore
  /** Closes and reopens the same storage; absent for stores that do not persist. */
  reopen?: () => Promise<{ sessions: SessionStore; retained: RetainedStore }>
  cleanup: () => Promise<void>
}

export type PersistenceFactory = () => Promise<PersistenceHarness>

/** What an implementation declares it can do (as abstract-level's `supports` manifest). */
export interface Supports {
  /** Its contents survive closing and opening the same storage again (the harness has `reopen`). */
  reopen: boolean
}

const m = (topic: string, extra: Partial<Message> = {}): Message => ({ topic, payload: Buffer.from(`p:${topic}`), qos: 1, retain: false, ...extra })

const session = (clientId: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  clientId,
  protocolVersion: 5,
  expiryInterval: 3600,
  subscriptions: [
    { filter: 'a/#', qos: 1 },
    { filter: 'b/+', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 1, subscriptionId: 7 },
  ],
  disconnectedAt: 1_700_000_000_000,
  ...extra,
})

function byClient(all: LoadedSession[], clientId: string): LoadedSession | undefined {
  return all.find((s) => s.session.clientId === clientId)
}

/** One behaviour suite for every SessionStore/RetainedStore pair (the broker's memory one, the LevelDB one). */
export function persistenceConformance(impl: string, make: PersistenceFactory, supports: Supports): void {
  /** A case that needs a capability the implementation does not declare is reported as skipped. */
  const t = (name: string, fn: () => Promise<void>, needs?: keyof Supports): void => {
    const skip = needs !== undefined && !supports[needs] ? `${impl} does not declare supports.${needs}` : false
    test(`${impl}: ${name}`, { timeout: 20_000, skip }, fn)
  }

  t('a saved session loads back with its subscriptions, and saving again replaces it', async () => {
    const h = await make()
    await h.sessions.saveSession(session('c1'))
    assert.deepEqual(byClient(await h.sessions.loadAll(), 'c1'), { session: session('c1'), outgoing: [], incomingQos2: [] })
    await h.sessions.saveSession(session('c1', { disconnectedAt: null, subscriptions: [] }))
    const all = await h.sessions.loadAll()
    assert.equal(all.length, 1)
    assert.deepEqual(all[0]?.session, session('c1', { disconnectedAt: null, subscriptions: [] }))
    await h.cleanup()
  })

  t('outgoing deliveries load in id order with their state, packet id and full message', async () => {
    const h = await make()
    await h.sessions.saveSession(session('c1'))
    const rich = m('x/1', { qos: 2, retain: true, origin: 'pub', receivedAt: 123, properties: { correlationData: Buffer.from([1, 2]), userProperties: { k: 'v' }, contentType: 'text/plain' } })
    const ids1 = await h.sessions.addOutgoing('c1', [rich, m('x/2')])
    const ids2 = await h.sessions.addOutgoing('c1', [m('x/3')])
    const ids = [...ids1, ...ids2]
    for (let i = 1; i < ids.length; i++) assert.ok((ids[i] as bigint) > (ids[i - 1] as bigint))
    await h.sessions.updateOutgoing('c1', ids[0] as bigint, 'sent', 17)
    await h.sessions.updateOutgoing('c1', ids[1] as bigint, 'released', 18)
    await h.sessions.updateOutgoing('c1', ids[1] as bigint, 'queued')
    const got = byClient(await h.sessions.loadAll(), 'c1')
    assert.deepEqual(got?.outgoing, [
      { id: ids[0], message: rich, state: 'sent', packetId: 17 },
      { id: ids[1], message: m('x/2'), state: 'queued' },
      { id: ids[2], message: m('x/3'), state: 'queued' },
    ])
    await h.cleanup()
  })

  t('removeOutgoing removes only that delivery, and updating a removed one is a no-op', async () => {
    const h = await make()
    await h.sessions.saveSession(session('c1'))
    const ids = await h.sessions.addOutgoing('c1', [m('x/1'), m('x/2'), m('x/3')])
    await h.sessions.removeOutgoing('c1', ids[1] as bigint)
    await h.sessions.updateOutgoing('c1', ids[1] as bigint, 'sent', 5)
    const got = byClient(await h.sessions.loadAll(), 'c1')
    assert.deepEqual(got?.outgoing.map((d) => d.message.topic), ['x/1', 'x/3'])
    await h.cleanup()
  })

  t('inbound QoS 2 packet ids are kept until removed', async () => {
    const h = await make()
    await h.sessions.saveSession(session('c1'))
    await h.sessions.addIncomingQos2('c1', 1)
    await h.sessions.addIncomingQos2('c1', 65535)
    await h.sessions.addIncomingQos2('c1', 300)
    await h.sessions.removeIncomingQos2('c1', 1)
    const got = byClient(await h.sessions.loadAll(), 'c1')
    assert.deepEqual([...(got?.incomingQos2 ?? [])].sort((a, b) => a - b), [300, 65535])
    await h.cleanup()
  })

  t('deleteSession removes the session and everything owed to it, and no other client', async () => {
    const h = await make()
    for (const id of ['a', 'a/b', 'ab', 'ä-ü']) {
      await h.sessions.saveSession(session(id))
      await h.sessions.addOutgoing(id, [m(`for/${id}`)])
      await h.sessions.addIncomingQos2(id, 9)
    }
    await h.sessions.deleteSession('a')
    const all = await h.sessions.loadAll()
    assert.deepEqual(all.map((s) => s.session.clientId).sort(), ['a/b', 'ab', 'ä-ü'])
    for (const s of all) {
      assert.deepEqual(s.outgoing.map((d) => d.message.topic), [`for/${s.session.clientId}`])
      assert.deepEqual(s.incomingQos2, [9])
    }
    await h.cleanup()
  })

  t('retained messages are replaced per topic, deleted, and loaded with their properties', async () => {
    const h = await make()
    await h.retained.put(m('r/1', { retain: true }))
    await h.retained.put(m('r/2', { retain: true, properties: { userProperties: { a: ['1', '2'] }, messageExpiryInterval: 30 } }))
    await h.retained.put(m('r/1', { retain: true, payload: Buffer.from('new') }))
    await h.retained.put(m('r/ü', { retain: true }))
    await h.retained.delete('r/ü')
    await h.retained.delete('never/there')
    const all = (await h.retained.loadAll()).sort((a, b) => a.topic.localeCompare(b.topic))
    assert.deepEqual(all, [m('r/1', { retain: true, payload: Buffer.from('new') }), m('r/2', { retain: true, properties: { userProperties: { a: ['1', '2'] }, messageExpiryInterval: 30 } })])
    await h.cleanup()
  })

  t('sessions, deliveries and retained messages survive a reopen, and ids keep increasing', async (): Promise<void> => {
    const h = await make()
    assert.ok(h.reopen, 'supports.reopen needs a reopen() in the harness')
    await h.sessions.saveSession(session('c1'))
    const ids = await h.sessions.addOutgoing('c1', [m('x/1'), m('x/2')])
    await h.sessions.updateOutgoing('c1', ids[1] as bigint, 'sent', 4)
    await h.sessions.addIncomingQos2('c1', 77)
    await h.retained.put(m('r/1', { retain: true }))
    const before = await h.sessions.loadAll()
    const again = await h.reopen()
    assert.deepEqual(await again.sessions.loadAll(), before)
    assert.deepEqual(await again.retained.loadAll(), [m('r/1', { retain: true })])
    const [next] = await again.sessions.addOutgoing('c1', [m('x/3')])
    assert.ok((next as bigint) > (ids[1] as bigint))
    await h.cleanup()
  }, 'reopen')

  t('closed stores refuse writes', async () => {
    const h = await make()
    await h.sessions.close()
    await h.retained.close()
    await assert.rejects(h.sessions.saveSession(session('c1')))
    await assert.rejects(h.retained.put(m('r/1')))
    await h.cleanup()
  })
}

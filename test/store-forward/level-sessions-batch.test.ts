import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { silentLogger, type Message } from '../../src/core/index.ts'
import { openStore } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'

const msg = (i: number): Message => ({ topic: `t/${i}`, payload: Buffer.from(String(i)), qos: 1, retain: false })

test('session writes made in one burst share batches yet keep call order, across a delete and a reopen', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const cfg = storeOptionsFor(dir)
  let store = await openStore(cfg, silentLogger)
  try {
    const s = store.sessions
    await s.saveSession({ clientId: 'a', protocolVersion: 5, expiryInterval: 3600, subscriptions: [], disconnectedAt: 1 })
    await s.saveSession({ clientId: 'b', protocolVersion: 4, expiryInterval: 0xffffffff, subscriptions: [], disconnectedAt: 1 })
    // One burst, as a fan-out to offline sessions produces: 300 adds, removals of some, a delete in the middle.
    const adds: Array<Promise<bigint[]>> = []
    for (let i = 0; i < 150; i++) adds.push(s.addOutgoing('a', [msg(i)]))
    const firstIds = await Promise.all(adds.slice(0, 10))
    const removals = firstIds.slice(0, 5).map(([id]) => s.removeOutgoing('a', id as bigint))
    const deleted = s.deleteSession('b')
    const late: Array<Promise<bigint[]>> = []
    for (let i = 150; i < 300; i++) late.push(s.addOutgoing('b', [msg(i)]))
    const resaved = s.saveSession({ clientId: 'b', protocolVersion: 4, expiryInterval: 0xffffffff, subscriptions: [], disconnectedAt: 2 })
    await Promise.all([...adds, ...removals, deleted, ...late, resaved])
    const ids = (await Promise.all([...adds, ...late])).map(([id]) => id as bigint)
    for (let i = 1; i < ids.length; i++) assert.ok((ids[i] as bigint) > (ids[i - 1] as bigint), 'ids follow call order')

    await store.close()
    store = await openStore(cfg, silentLogger)
    const loaded = new Map((await store.sessions.loadAll()).map((l) => [l.session.clientId, l]))
    assert.deepEqual(loaded.get('a')?.outgoing.map((d) => d.message.topic), Array.from({ length: 145 }, (_, i) => `t/${i + 5}`))
    // b was deleted, then given new deliveries and saved again: those must survive (not ride an earlier batch that the delete wipes).
    assert.deepEqual(loaded.get('b')?.outgoing.map((d) => d.message.topic), Array.from({ length: 150 }, (_, i) => `t/${i + 150}`))
    assert.equal(loaded.get('b')?.session.disconnectedAt, 2)
  } finally {
    await store.close().catch(() => undefined)
    cleanup()
  }
})

test('state updates are kept apart from the message, win over its first state, and leave nothing behind after removal, delete or an update that came too late', { timeout: 20_000 }, async () => {
  const { dir, cleanup } = tempDir()
  const cfg = storeOptionsFor(dir)
  let store = await openStore(cfg, silentLogger)
  try {
    const s = store.sessions
    await s.saveSession({ clientId: 'a', protocolVersion: 5, expiryInterval: 3600, subscriptions: [], disconnectedAt: 1 })
    await s.saveSession({ clientId: 'b', protocolVersion: 5, expiryInterval: 3600, subscriptions: [], disconnectedAt: 1 })
    // one burst, none awaited: add, sent, released for one message; add, sent, removal for another
    const [x, y] = await Promise.all([s.addOutgoing('a', [msg(1)]), s.addOutgoing('a', [msg(2)])]).then((r) => r.map(([id]) => id as bigint))
    await Promise.all([s.updateOutgoing('a', x as bigint, 'sent', 7), s.updateOutgoing('a', x as bigint, 'released', 7), s.updateOutgoing('a', y as bigint, 'sent', 8), s.removeOutgoing('a', y as bigint)])
    await s.updateOutgoing('a', y as bigint, 'released', 8) // after its removal: must not bring it back
    const [z] = await s.addOutgoing('b', [msg(3)])
    await s.updateOutgoing('b', z as bigint, 'sent', 9)
    await s.deleteSession('b')
    await store.close()
    store = await openStore(cfg, silentLogger)
    const loaded = await store.sessions.loadAll()
    assert.deepEqual(
      loaded.map((l) => [l.session.clientId, l.outgoing.map((d) => [d.message.topic, d.state, d.packetId])]),
      [['a', [['t/1', 'released', 7]]]],
    )
    await store.close()
    // the late update's record was deleted at load; the deleted session left no state record
    const db = new ClassicLevel<Buffer, Buffer>(`${dir}`, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await db.open()
    const stateKeys: string[] = []
    for await (const key of db.keys({ gt: Buffer.from('p\0'), lt: Buffer.from('p\x01') })) stateKeys.push(key.toString('latin1', 0, 3))
    await db.close()
    assert.deepEqual(stateKeys, ['p\0a'])
    store = await openStore(cfg, silentLogger)
  } finally {
    await store.close().catch(() => undefined)
    cleanup()
  }
})

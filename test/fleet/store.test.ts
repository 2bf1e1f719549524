import assert from 'node:assert/strict'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { check } from '../../src/commands/check.ts'
import { configHash, FleetStore } from '../../src/fleet/store.ts'
import { tempDir } from '../helpers/tmp.ts'

const BASE = '[gateway]\nid = "a"\n'
const NEXT = '[gateway]\nid = "a"\n[log]\nlevel = "warn"\n'

function fresh(keep = 3): { store: FleetStore; cleanup: () => void } {
  const { dir, cleanup } = tempDir('fieldgate-fleet-store-')
  return { store: new FleetStore(join(dir, 'fleet'), keep), cleanup }
}

function commitNext(store: FleetStore, at = 1): string {
  const file = store.saveConfig(NEXT, configHash(NEXT), at)
  store.commit({ file, hash: configHash(NEXT), base_hash: configHash(BASE), committed_at: new Date(at).toISOString() })
  return file
}

test('with nothing committed the config file runs', () => {
  const { store, cleanup } = fresh()
  const s = store.resolve(BASE)
  assert.equal(s.source, 'file')
  assert.equal(s.text, BASE)
  assert.equal(s.interrupted, null)
  cleanup()
})

test('a committed remote config runs while the config file is unchanged', () => {
  const { store, cleanup } = fresh()
  commitNext(store)
  const s = store.resolve(BASE)
  assert.equal(s.source, 'remote')
  assert.equal(s.text, NEXT)
  cleanup()
})

test('an edited config file wins over the committed remote config, which is dropped', () => {
  const { store, cleanup } = fresh()
  commitNext(store)
  const s = store.resolve(BASE + '# edited on site\n')
  assert.equal(s.source, 'file')
  assert.match(s.notes[0] ?? '', /config file changed .* the file wins/)
  assert.equal(store.readCommitted(), null)
  cleanup()
})

test('a commit window cut short by a crash ends rolled back: the previous config runs', () => {
  const { store, cleanup } = fresh()
  const file = store.saveConfig(NEXT, configHash(NEXT))
  store.beginTrial({ file, hash: configHash(NEXT), previous_hash: configHash(BASE), started_at: '', deadline_ms: 30_000 })
  const s = store.resolve(BASE)
  assert.equal(s.source, 'file')
  assert.equal(s.interrupted?.outcome, 'rolled_back')
  assert.equal(store.readTrial(), null)
  cleanup()
})

test('a crash after the commit point but before the trial was cleared ends committed', () => {
  const { store, cleanup } = fresh()
  const file = commitNext(store)
  store.beginTrial({ file, hash: configHash(NEXT), previous_hash: configHash(BASE), started_at: '', deadline_ms: 30_000 })
  const s = store.resolve(BASE)
  assert.equal(s.source, 'remote')
  assert.equal(s.interrupted?.outcome, 'committed')
  cleanup()
})

test('a committed file that no longer matches its hash is not run', () => {
  const { store, cleanup } = fresh()
  const file = commitNext(store)
  writeFileSync(join(store.configsDir, file), NEXT + 'x = 1\n')
  const s = store.resolve(BASE)
  assert.equal(s.source, 'file')
  assert.match(s.notes[0] ?? '', /does not match its hash/)
  cleanup()
})

test('only the last N configs are kept, the committed one always, and no temporary file is left', () => {
  const { store, cleanup } = fresh(2)
  const committed = commitNext(store, 1)
  for (let i = 2; i <= 6; i++) store.saveConfig(`${NEXT}# ${i}\n`, configHash(`${NEXT}# ${i}\n`), i)
  store.prune()
  const left = store.list()
  assert.equal(left.length, 3)
  assert.ok(left.includes(committed))
  assert.deepEqual(readdirSync(store.configsDir).filter((f) => f.endsWith('.tmp')), [])
  assert.ok(!existsSync(join(store.dir, 'trial.json')))
  cleanup()
})

test('fieldgate check says when a committed remote config runs instead of the file, and changes nothing', async () => {
  const { dir, cleanup } = tempDir('fieldgate-fleet-check-')
  const file = join(dir, 'gw.toml')
  const text = `[gateway]\nid = "chk"\n[storage]\ndata_dir = "${join(dir, 'data')}"\n[status]\nenabled = false\n[[broker.listeners]]\nport = 0\n[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:1"\nconnect_timeout = "1s"\n[uplinks.management]\nenabled = true\n`
  writeFileSync(file, text)
  const store = new FleetStore(join(dir, 'data', 'fleet'), 5)
  const f = store.saveConfig(NEXT, configHash(NEXT))
  store.commit({ file: f, hash: configHash(NEXT), base_hash: configHash(text), committed_at: '2026-12-06T16:00:00.000Z' })
  const lines: string[] = []
  await check(file, { out: (l) => lines.push(l), env: {}, probeTimeout: 1000 })
  assert.ok(lines.some((l) => l.includes(`(fleet: remote config ${configHash(NEXT).slice(0, 12)}, committed 2026-12-06T16:00:00.000Z, runs instead of this file`)), lines.join('\n'))
  assert.equal(store.readCommitted()?.hash, configHash(NEXT))
  writeFileSync(file, `${text}# edited\n`)
  const after: string[] = []
  await check(file, { out: (l) => after.push(l), env: {}, probeTimeout: 1000 })
  assert.ok(!after.some((l) => l.includes('(fleet:')))
  cleanup()
})

test('a committed remote config that never reaches health in 3 cold starts is dropped at the 4th: the config file runs and the fall-back is reported', () => {
  const { store, cleanup } = fresh()
  commitNext(store)
  for (let i = 1; i <= 3; i++) {
    const s = store.resolve(BASE, { coldStart: true })
    assert.equal(s.source, 'remote', `start ${i}`)
    assert.equal(s.counted, true)
  }
  const s = store.resolve(BASE, { coldStart: true })
  assert.equal(s.source, 'file')
  assert.equal(s.text, BASE)
  assert.equal(s.fallback?.hash, configHash(NEXT))
  assert.equal(s.fallback?.starts, 3)
  assert.match(s.notes.join('\n'), /did not reach health in 3 starts: running the config file/)
  assert.equal(store.readCommitted(), null)
  // And the next start runs the file without counting anything.
  const next = store.resolve(BASE, { coldStart: true })
  assert.equal(next.source, 'file')
  assert.equal(next.fallback, null)
  cleanup()
})

test('a start that reaches health clears the count; a reload (no cold start) does not count', () => {
  const { store, cleanup } = fresh()
  commitNext(store)
  for (let i = 0; i < 10; i++) {
    assert.equal(store.resolve(BASE, { coldStart: true }).source, 'remote')
    assert.equal(store.resolve(BASE).counted, false)
    store.clearColdStarts()
  }
  assert.equal(store.resolve(BASE, { coldStart: true }).fallback, null)
  cleanup()
})

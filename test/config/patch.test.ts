import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { parse } from 'smol-toml'
import { mergePatch, patchConfigText } from '../../src/config/index.ts'

test('merge patch: the examples of RFC 7386 appendix A', () => {
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ]
  for (const [target, patch, want] of cases) assert.deepEqual(mergePatch(target, patch), want, JSON.stringify([target, patch]))
})

const json = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.string(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 3 }), tie('object')),
  object: fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), tie('value'), { maxKeys: 4 }),
}))

test('merge patch: keys the patch names are set or removed, every other key is kept, the target is not changed', () => {
  fc.assert(
    fc.property(json.object, json.object, (target, patch) => {
      const before = JSON.stringify(target)
      const out = mergePatch(target, patch) as Record<string, unknown>
      assert.equal(JSON.stringify(target), before)
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) assert.ok(!(k in out))
        else if (typeof v !== 'object' || Array.isArray(v)) assert.deepEqual(out[k], v)
      }
      for (const k of Object.keys(target)) if (!(k in patch)) assert.deepEqual(out[k], target[k])
    }),
    { seed: 20261206, numRuns: 500 },
  )
})

const RUNNING = `[gateway]
id = "site-7"  # a comment
[log]
level = "info"
[[broker.listeners]]
host = "127.0.0.1"
port = 1883
[[devices]]
id = "boiler"
driver = "simulated"
`

test('a config text patched: the change is in, the rest is the same config, and the text is TOML again', () => {
  // smol-toml's tables have no prototype: compare as JSON
  const plain = (text: string): unknown => JSON.parse(JSON.stringify(parse(text)))
  const out = patchConfigText(RUNNING, { log: { level: 'debug' }, devices: [{ id: 'tank', driver: 'simulated' }] })
  const want = plain(RUNNING) as Record<string, unknown>
  assert.deepEqual(plain(out), { ...want, log: { level: 'debug' }, devices: [{ id: 'tank', driver: 'simulated' }] })
  assert.deepEqual(plain(patchConfigText(RUNNING, {})), want)
  assert.throws(() => patchConfigText(RUNNING, ['log']), /a config patch is a JSON object/)
  assert.throws(() => patchConfigText('[gateway\n', {}), /running config is not valid TOML/)
  assert.throws(() => patchConfigText(RUNNING, { log: { level: [null] } }), /cannot be written as TOML/)
})

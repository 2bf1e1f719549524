import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { generate } from '../../scripts/gen-config-docs.ts'

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8')
const BEGIN = '<!-- BEGIN GENERATED KEYS (scripts/gen-config-docs.ts) -->'
const END = '<!-- END GENERATED KEYS -->'

test('docs/configuration.md lists the keys the schema has now (npm run docs:config after a schema change)', () => {
  const a = doc.indexOf(BEGIN)
  const b = doc.indexOf(END)
  assert.ok(a >= 0 && b > a, 'the generated-keys markers are in docs/configuration.md')
  assert.equal(doc.slice(a + BEGIN.length, b).trim(), generate().trim())
})

test('every key in the generated tables says what it means', () => {
  const rows = generate()
    .split('\n')
    .filter((l) => l.startsWith('| `'))
  assert.ok(rows.length > 100, `${rows.length} key rows`)
  const blank = rows.filter((l) => /\|\s*\|$/.test(l)).map((l) => l.split('|')[1]?.trim())
  assert.deepEqual(blank, [])
})

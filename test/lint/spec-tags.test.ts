import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'

/**
 * References to the MQTT specification in src/ come in two forms, so they can be searched for:
 * a normative statement as the spec numbers it, `[MQTT-3.1.2-24]` (one per bracket), and a section
 * as `[MQTT 5.0 §3.1.2.11.4]` or `[MQTT 3.1.1 §4.7]` (several sections may share one bracket).
 */
const STATEMENT = /^\[MQTT-\d+(\.\d+)+-\d+\]$/
const SECTION = /^\[MQTT (5\.0|3\.1\.1) §\d+(\.\d+)*(, §\d+(\.\d+)*)*\]$/

export function badSpecTags(text: string): string[] {
  return (text.match(/\[MQTT[^\]\n]*\]/g) ?? []).filter((t) => !STATEMENT.test(t) && !SECTION.test(t))
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
}

test('spec tags: the two forms are accepted, the old mixed ones are not', () => {
  assert.deepEqual(badSpecTags('x [MQTT-3.1.2-24] y [MQTT 5.0 §3.1.2.11.4] z [MQTT 3.1.1 §4.7] [MQTT 5.0 §3.4.2, §3.5.2]'), [])
  assert.deepEqual(badSpecTags('[MQTT-3.1.2-1/2] [MQTT-3.4.2.1] [MQTT-3.3.4-2, 3.3.4-3] [MQTT-4.7]'), ['[MQTT-3.1.2-1/2]', '[MQTT-3.4.2.1]', '[MQTT-3.3.4-2, 3.3.4-3]', '[MQTT-4.7]'])
})

test('every spec tag in src/ has one of the two forms', () => {
  const root = join(import.meta.dirname, '..', '..')
  const found: string[] = []
  for (const f of tsFiles(join(root, 'src'))) for (const t of badSpecTags(readFileSync(f, 'utf8'))) found.push(`${relative(root, f)}: ${t}`)
  assert.deepEqual(found, [])
})

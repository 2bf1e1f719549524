import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { cycles, importGraph, importsOf, type EdgeKind } from '../../scripts/lint/import-cycles.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const show = (cs: string[][]): string => cs.map((c) => `${c.length} files: ${c.join(' ')}`).join('\n')

test('the import scanner tells type-only imports from value imports and finds every relative form', () => {
  const found = importsOf(
    'x.ts',
    [
      "import type { A } from './a.ts'",
      "import { type B, type C } from './b.ts'",
      "import { D, type E } from './d.ts'",
      "import './side.ts'",
      "export type { F } from './f.ts'",
      "export * from './g.ts'",
      "import { z } from 'zod'",
      "type H = import('./h.ts').H",
      "const load = () => import('./i.ts')",
    ].join('\n'),
  )
  assert.deepEqual(found, [
    { spec: './a.ts', kind: 'type' },
    { spec: './b.ts', kind: 'type' },
    { spec: './d.ts', kind: 'value' },
    { spec: './side.ts', kind: 'value' },
    { spec: './f.ts', kind: 'type' },
    { spec: './g.ts', kind: 'value' },
    { spec: './h.ts', kind: 'type' },
    { spec: './i.ts', kind: 'value' },
  ])
})

test('a cycle is found whether its edges carry values or only types', () => {
  const edge = (to: string, kind: EdgeKind): Map<string, EdgeKind> => new Map([[to, kind]])
  const g = {
    edges: new Map([
      ['a', edge('b', 'value')],
      ['b', edge('c', 'type')],
      ['c', edge('a', 'value')],
      ['d', edge('d', 'type')],
      ['e', edge('a', 'value')],
    ]),
  }
  assert.deepEqual(cycles(g), [['a', 'b', 'c'], ['d']])
  assert.deepEqual(cycles(g, true), [])
})

// A type-only cycle vanishes at run time but still ties the files' designs together: none in the broker.
test('no file in src/broker imports itself back, not even through type imports', () => {
  const found = cycles(importGraph(root, 'src/broker'))
  assert.deepEqual(found, [], `import cycles in src/broker:\n${show(found)}`)
})

test('no import cycle anywhere in src, through value or type imports', () => {
  const found = cycles(importGraph(root, 'src'))
  assert.deepEqual(found, [], `import cycles in src:\n${show(found)}`)
})

import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

/**
 * The import graph of our own files, and its cycles. Only relative imports count (npm packages and
 * node: built-ins cannot close a cycle through our code). An edge is "type" when it can only carry types
 * (`import type`, `export type … from`, every specifier `type`, `import('…').T`); it disappears at run time
 * but is still a design coupling, so both kinds are reported.
 */

export type EdgeKind = 'value' | 'type'

export interface ImportGraph {
  /** file (relative to root, '/' separated) → imported file → kind (value wins over type). */
  edges: Map<string, Map<string, EdgeKind>>
}

function tsFiles(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...tsFiles(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

function importKind(node: ts.ImportDeclaration | ts.ExportDeclaration): EdgeKind {
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause
    if (clause === undefined) return 'value' // side-effect import
    if (clause.isTypeOnly) return 'type'
    if (clause.name !== undefined) return 'value'
    const b = clause.namedBindings
    if (b === undefined || ts.isNamespaceImport(b)) return 'value'
    return b.elements.length > 0 && b.elements.every((e) => e.isTypeOnly) ? 'type' : 'value'
  }
  if (node.isTypeOnly) return 'type'
  const c = node.exportClause
  if (c !== undefined && ts.isNamedExports(c) && c.elements.length > 0 && c.elements.every((e) => e.isTypeOnly)) return 'type'
  return 'value'
}

/** Relative specifiers of one file with their kinds. */
export function importsOf(fileName: string, text: string): Array<{ spec: string; kind: EdgeKind }> {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS)
  const out: Array<{ spec: string; kind: EdgeKind }> = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, kind: importKind(node) })
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, kind: 'type' })
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])) {
      out.push({ spec: node.arguments[0].text, kind: 'value' })
    }
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out.filter((i) => i.spec.startsWith('.'))
}

/** The graph of every .ts file under `dir` (imports leaving `dir` are left out). */
export function importGraph(root: string, dir: string): ImportGraph {
  const base = resolve(root, dir)
  const files = tsFiles(base)
  const known = new Set(files)
  const edges = new Map<string, Map<string, EdgeKind>>()
  const name = (abs: string): string => relative(root, abs).split('\\').join('/')
  for (const f of files) {
    const to = new Map<string, EdgeKind>()
    for (const { spec, kind } of importsOf(f, readFileSync(f, 'utf8'))) {
      let target = resolve(dirname(f), spec)
      if (!known.has(target) && known.has(`${target}.ts`)) target = `${target}.ts`
      if (!known.has(target) && known.has(join(target, 'index.ts'))) target = join(target, 'index.ts')
      if (!known.has(target)) continue
      const n = name(target)
      if (to.get(n) !== 'value') to.set(n, kind)
    }
    edges.set(name(f), to)
  }
  return { edges }
}

/**
 * Strongly connected components with more than one file (or a file importing itself), each sorted;
 * Tarjan's algorithm, iterative. With `valueOnly`, type edges are ignored.
 */
export function cycles(g: ImportGraph, valueOnly = false): string[][] {
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const onStack = new Set<string>()
  const stack: string[] = []
  const out: string[][] = []
  let next = 0
  const succ = (v: string): string[] => [...(g.edges.get(v) ?? new Map<string, EdgeKind>())].filter(([, k]) => !valueOnly || k === 'value').map(([w]) => w)
  for (const start of [...g.edges.keys()].sort()) {
    if (index.has(start)) continue
    const work: Array<{ v: string; ws: string[]; i: number }> = []
    const open = (v: string): void => {
      index.set(v, next)
      low.set(v, next)
      next++
      stack.push(v)
      onStack.add(v)
      work.push({ v, ws: succ(v), i: 0 })
    }
    open(start)
    while (work.length > 0) {
      const top = work[work.length - 1] as { v: string; ws: string[]; i: number }
      if (top.i < top.ws.length) {
        const w = top.ws[top.i++] as string
        if (!index.has(w)) open(w)
        else if (onStack.has(w)) low.set(top.v, Math.min(low.get(top.v) as number, index.get(w) as number))
        continue
      }
      work.pop()
      const parent = work[work.length - 1]
      if (parent !== undefined) low.set(parent.v, Math.min(low.get(parent.v) as number, low.get(top.v) as number))
      if (low.get(top.v) === index.get(top.v)) {
        const comp: string[] = []
        let w: string
        do {
          w = stack.pop() as string
          onStack.delete(w)
          comp.push(w)
        } while (w !== top.v)
        if (comp.length > 1 || succ(top.v).includes(top.v)) out.push(comp.sort())
      }
    }
  }
  return out.sort((a, b) => b.length - a.length || (a[0] ?? '').localeCompare(b[0] ?? ''))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), '../..')
  const dir = process.argv[2] ?? 'src'
  const g = importGraph(root, dir)
  for (const [label, valueOnly] of [['value and type imports', false], ['value imports only', true]] as const) {
    const cs = cycles(g, valueOnly)
    console.log(`${dir}: ${cs.length} cycle(s) over ${label}`)
    for (const c of cs) console.log(`  ${c.length} files: ${c.join(' ')}`)
  }
}

/**
 * Finds the 1-based line where a key path is defined in TOML text, so errors can point at it.
 * Handles [table], [[array.of.tables]] (nested ones counted per parent element), dotted and quoted
 * keys, and keys inside inline tables (reported at the line of the inline table). Best-effort: null
 * when unknown, and text inside multi-line strings is not told apart from keys.
 */
export function lineOfKey(text: string, path: ReadonlyArray<string | number>): number | null {
  const lines = text.split(/\r?\n/)
  let table: Array<string | number> = []
  // Element counts of arrays of tables, keyed by their resolved path ("devices", "devices.0.points").
  const arrayCounts = new Map<string, number>()
  let best: number | null = null
  let bestLen = -1
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').replace(/^\s+/, '')
    if (raw === '' || raw.startsWith('#')) continue
    const arr = /^\[\[\s*(.+?)\s*\]\]/.exec(raw)
    const tbl = arr ? null : /^\[\s*(.+?)\s*\]/.exec(raw)
    if (arr) {
      const name = splitKey(arr[1] as string)
      const parent = resolve(name.slice(0, -1), arrayCounts)
      const key = [...parent, name[name.length - 1] as string]
      const k = key.join('.')
      const idx = arrayCounts.get(k) ?? 0
      arrayCounts.set(k, idx + 1)
      table = [...key, idx]
      consider(table, i + 1)
      continue
    }
    if (tbl) {
      table = resolve(splitKey(tbl[1] as string), arrayCounts)
      consider(table, i + 1)
      continue
    }
    const kv = /^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=/.exec(raw)
    if (kv) consider([...table, ...splitKey(kv[1] as string)], i + 1)
  }
  return best

  function consider(keyPath: Array<string | number>, line: number): void {
    let n = 0
    while (n < keyPath.length && n < path.length && String(keyPath[n]) === String(path[n])) n++
    if (n === keyPath.length && n > bestLen) {
      best = line
      bestLen = n
    }
  }
}

/** Splits a dotted key, keeping dots inside quotes: a."b.c".d → [a, b.c, d]. */
export function splitKey(k: string): string[] {
  const out: string[] = []
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^.\s"']+))\s*(?:\.|$)/gy
  for (let m = re.exec(k); m && m[0] !== ''; m = re.exec(k)) out.push(m[1] ?? m[2] ?? m[3] ?? '')
  return out
}

/** A table name with the current element index after every segment that is an array of tables. */
function resolve(name: string[], counts: Map<string, number>): Array<string | number> {
  const out: Array<string | number> = []
  for (const seg of name) {
    out.push(seg)
    const c = counts.get(out.join('.'))
    if (c !== undefined) out.push(c - 1)
  }
  return out
}

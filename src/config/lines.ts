/**
 * Finds the 1-based line where a key path is defined in TOML text, so errors can point at it.
 * Handles [table], [[array.of.tables]], dotted keys and inline keys; best-effort (null when unknown).
 */
export function lineOfKey(text: string, path: ReadonlyArray<string | number>): number | null {
  const lines = text.split(/\r?\n/)
  let table: Array<string | number> = []
  const arrayCounts = new Map<string, number>()
  let best: number | null = null
  let bestLen = -1
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').replace(/^\s+/, '')
    if (raw === '' || raw.startsWith('#')) continue
    const arr = /^\[\[\s*([^\]]+?)\s*\]\]/.exec(raw)
    const tbl = arr ? null : /^\[\s*([^\]]+?)\s*\]/.exec(raw)
    if (arr) {
      const name = splitKey(arr[1] as string)
      const k = name.join('.')
      const idx = arrayCounts.get(k) ?? 0
      arrayCounts.set(k, idx + 1)
      table = [...name, idx]
      consider(table, i + 1)
      continue
    }
    if (tbl) {
      table = expandArrays(splitKey(tbl[1] as string), arrayCounts)
      consider(table, i + 1)
      continue
    }
    const kv = /^([A-Za-z0-9_."'-]+(?:\s*\.\s*[A-Za-z0-9_"'-]+)*)\s*=/.exec(raw)
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

function splitKey(k: string): string[] {
  return k.split('.').map((s) => s.trim().replace(/^["']|["']$/g, ''))
}

function expandArrays(name: string[], counts: Map<string, number>): Array<string | number> {
  // [a.b] after [[a]] refers to the last element of a
  const out: Array<string | number> = []
  for (let i = 0; i < name.length; i++) {
    out.push(name[i] as string)
    const c = counts.get(name.slice(0, i + 1).join('.'))
    if (c !== undefined && i < name.length - 1) out.push(c - 1)
  }
  return out
}

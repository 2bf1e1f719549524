/**
 * Which gateways an operation goes to (`--to`): a comma-separated list of terms. `all` (or `*`) is
 * every gateway; a term with `*` or `?` is a pattern on gateway ids (`site-*`); `key=value` keeps the
 * gateways whose inventory has that value (`version=0.1.0`, `arch=arm64`, `source=remote`,
 * `online=true`, `health=ok`); any other term is one gateway id. Ids and patterns add up; filters
 * narrow what they selected (filters alone start from every gateway).
 */
export interface Selector {
  ids: string[]
  patterns: RegExp[]
  all: boolean
  filters: Array<{ key: FilterKey; value: string }>
}

const FILTER_KEYS = ['version', 'arch', 'source', 'online', 'health', 'platform'] as const
export type FilterKey = (typeof FILTER_KEYS)[number]

/** Parses `--to`; throws with one line naming the bad term. */
export function parseSelector(text: string): Selector {
  const s: Selector = { ids: [], patterns: [], all: false, filters: [] }
  const terms = text.split(',').map((t) => t.trim()).filter((t) => t !== '')
  if (terms.length === 0) throw new Error('--to is empty: name gateways (site-a,site-b), a pattern (site-*), all, or a filter such as version=0.1.0')
  for (const t of terms) {
    const eq = t.indexOf('=')
    if (eq >= 0) {
      const key = t.slice(0, eq)
      if (!(FILTER_KEYS as readonly string[]).includes(key)) throw new Error(`--to: unknown filter "${key}" in "${t}"; filters are ${FILTER_KEYS.map((k) => `${k}=…`).join(', ')}`)
      s.filters.push({ key: key as FilterKey, value: t.slice(eq + 1) })
    } else if (t === 'all' || t === '*') s.all = true
    else if (/[*?]/.test(t)) s.patterns.push(glob(t))
    else if (/[+#/]/.test(t)) throw new Error(`--to: "${t}" is not a gateway id (no "/", "+" or "#")`)
    else s.ids.push(t)
  }
  if (s.ids.length === 0 && s.patterns.length === 0) s.all = true
  return s
}

function glob(p: string): RegExp {
  return new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
}

/** The value of a filter key in an inventory (as published on fieldgate/<id>/mgmt/inventory). */
export function inventoryValue(inv: Record<string, unknown>, key: FilterKey): string {
  const board = (inv.board ?? {}) as Record<string, unknown>
  const config = (inv.config ?? {}) as Record<string, unknown>
  const health = (inv.health ?? {}) as Record<string, unknown>
  switch (key) {
    case 'version':
      return String(inv.version ?? '')
    case 'arch':
      return String(board.arch === 'arm' ? 'armv7' : (board.arch ?? ''))
    case 'platform':
      return String(board.platform ?? '')
    case 'source':
      return String(config.source ?? '')
    case 'online':
      return String(inv.online === true)
    case 'health':
      return String(health.overall ?? '')
  }
}

/**
 * The gateways `s` selects among `known` (id → inventory), in rollout order (ids compared with
 * numbers as numbers, so site-2 comes before site-10), and the ids it names that no inventory knows.
 */
export function select(s: Selector, known: ReadonlyMap<string, Record<string, unknown>>): { ids: string[]; unknown: string[] } {
  const picked = new Set<string>()
  for (const id of known.keys()) if (s.all || s.ids.includes(id) || s.patterns.some((p) => p.test(id))) picked.add(id)
  const unknown = s.ids.filter((id) => !known.has(id))
  const ids = [...picked].filter((id) => s.filters.every((f) => inventoryValue(known.get(id) ?? {}, f.key) === f.value))
  return { ids: ids.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })), unknown }
}

/**
 * Topic remapping between the local broker and the cloud: topic templates and what filters they cover
 * (filters are matched by core's `topicMatches`). Pure functions; the uplink compiles the rules once at construction.
 */

export type TemplatePart = { text: string } | { var: 'topic' | 'gateway' } | { level: number }

/** A compiled topic template: `{topic}`, `{gateway}` and `{1}`, `{2}`... (1-based levels of the source topic). */
export interface Template {
  source: string
  parts: TemplatePart[]
  /** True when the template has no placeholders (a fixed topic). */
  fixed: boolean
}

export function compileTemplate(source: string): Template {
  const parts: TemplatePart[] = []
  const re = /\{([^{}]*)\}/g
  let last = 0
  for (let m = re.exec(source); m !== null; m = re.exec(source)) {
    if (m.index > last) parts.push({ text: source.slice(last, m.index) })
    const name = m[1] as string
    if (name === 'topic' || name === 'gateway') parts.push({ var: name })
    else if (/^[1-9]\d*$/.test(name)) parts.push({ level: Number(name) })
    else throw new TypeError(`topic template "${source}": unknown placeholder {${name}}; use {topic}, {gateway} or {1}, {2}...`)
    last = re.lastIndex
  }
  if (last < source.length) parts.push({ text: source.slice(last) })
  return { source, parts, fixed: parts.every((p) => 'text' in p) }
}

/**
 * Fills a template. `topic` is the source topic after the strip prefix; levels index the same topic.
 * Returns null when a level is missing or the result is not a valid topic name (empty, wildcards).
 */
export function renderTemplate(t: Template, topic: string, gateway: string): string | null {
  if (t.fixed) return t.source
  let levels: string[] | undefined
  let out = ''
  for (const p of t.parts) {
    if ('text' in p) out += p.text
    else if ('var' in p) out += p.var === 'topic' ? topic : gateway
    else {
      levels ??= topic.split('/')
      const l = levels[p.level - 1]
      if (l === undefined) return null
      out += l
    }
  }
  if (out.length === 0 || out.includes('+') || out.includes('#')) return null // [MQTT-3.3.2-2]
  return out
}

/** Removes `prefix` from the start of `topic`; topics without it pass unchanged. */
export function stripPrefix(topic: string, prefix: string | undefined): string {
  if (!prefix || !topic.startsWith(prefix) || topic.length === prefix.length) return topic
  return topic.slice(prefix.length)
}

/**
 * A filter covering every remote topic a forward rule can produce from local topics matching `filter`
 * (its wildcards carried into the template). Used on MQTT 3.1.1, which has no No Local, to recognise
 * our own messages coming back down. Over-approximates; never misses one of ours.
 */
export function coverFilter(t: Template, filter: string, strip: string | undefined, gateway: string): string {
  if (t.fixed) return t.source
  const hasStrip = strip !== undefined && strip.length > 0
  const stripped = hasStrip ? (filter.startsWith(strip) ? filter.slice(strip.length) : '#') : filter
  const fLevels = stripped.split('/')
  let out = ''
  for (const p of t.parts) {
    if ('text' in p) out += p.text
    else if ('var' in p) out += p.var === 'topic' ? stripped : gateway
    else {
      const l = fLevels[p.level - 1]
      out += l === undefined || l === '#' ? '+' : l
    }
  }
  const levels: string[] = []
  for (const l of out.split('/')) {
    if (l.includes('#')) {
      levels.push('#')
      break
    }
    levels.push(l.includes('+') ? '+' : l)
  }
  return levels.join('/')
}

/** Whether two filters can match a common topic (conservative: true when unsure). */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/')
  const y = b.split('/')
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const p = x[i]
    const q = y[i]
    if (p === '#' || q === '#') return true
    if (p === undefined || q === undefined) return false
    if (p !== '+' && q !== '+' && p !== q) return false
  }
  return true
}

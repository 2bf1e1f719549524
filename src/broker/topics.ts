/**
 * Topic name and filter validation ([MQTT 5.0 §4.7]) plus the broker's configured length/level limits.
 * Returns null when valid, or a short reason.
 */
export interface TopicLimits {
  maxLength: number
  maxLevels: number
}

/** mqtt-packet decodes with replacement characters, so U+FFFD marks bytes that were not valid UTF-8. */
export function badUtf8(s: string): boolean {
  // [MQTT-1.5.3-1] ill-formed UTF-8 and [MQTT-1.5.3-2] U+0000 are both reasons to close the connection
  return s.includes('\uFFFD') || s.includes('\u0000')
}

export function topicNameProblem(topic: string, limits: TopicLimits): string | null {
  if (topic.length === 0) return 'empty topic name' // [MQTT-4.7.3-1]
  if (badUtf8(topic)) return 'topic name is not valid UTF-8'
  if (topic.includes('+') || topic.includes('#')) return 'wildcards are not allowed in a topic name' // [MQTT-3.3.2-2]
  return limitProblem(topic, limits)
}

export interface ParsedFilter {
  /** The filter without a `$share/group/` prefix. */
  filter: string
  share?: string
}

export function parseFilter(raw: string, limits: TopicLimits): ParsedFilter | string {
  if (raw.length === 0) return 'empty topic filter' // [MQTT-4.7.3-1]
  if (badUtf8(raw)) return 'topic filter is not valid UTF-8'
  let filter = raw
  let share: string | undefined
  if (raw.startsWith('$share/')) {
    const slash = raw.indexOf('/', 7)
    share = raw.slice(7, slash < 0 ? raw.length : slash)
    // [MQTT-4.8.2-1] share name: at least one character, no wildcards, followed by a filter
    if (slash < 0 || share.length === 0 || share.includes('+') || share.includes('#')) return 'malformed shared subscription'
    filter = raw.slice(slash + 1)
    if (filter.length === 0) return 'shared subscription without a filter'
  }
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i] as string
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return "'#' must be the last level on its own" // [MQTT-4.7.1-2]
    if (l.includes('+') && l !== '+') return "'+' must occupy a whole level" // [MQTT-4.7.1-3]
  }
  const p = limitProblem(filter, limits)
  if (p) return p
  return share === undefined ? { filter } : { filter, share }
}

/** Length and level limits only (the name is already known to be valid). */
export function limitProblem(s: string, limits: TopicLimits): string | null {
  if (s.length > limits.maxLength) return `longer than ${limits.maxLength} characters`
  let levels = 1
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 47) levels++
  if (levels > limits.maxLevels) return `more than ${limits.maxLevels} levels`
  return null
}

/**
 * Topic filter matching [MQTT 5.0 §4.7], one implementation for the broker (ACL, small checks) and the bridge
 * (forward and downlink rules, echo detection). Subscription routing has its own trie (broker/trie.ts).
 */

const SLASH = 47
const PLUS = 43
const HASH = 35
const DOLLAR = 36

/**
 * Does `filter` match the topic name `topic`? `+` matches one whole level, `#` the rest including the
 * parent level [MQTT-4.7.1-2]; a wildcard in the first level never matches a topic starting with `$`
 * [MQTT-4.7.2-1]. A `$share/<group>/` prefix is not understood here: strip it first (`stripShare`).
 * Scans both strings once without splitting them: the bridge runs it for every forwarded message.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length
  const tl = topic.length
  if (topic.charCodeAt(0) === DOLLAR) {
    const c = filter.charCodeAt(0)
    if (c === PLUS || c === HASH) return false
  }
  // f and t are the starts of the current levels; t > tl once the topic has no level left.
  let f = 0
  let t = 0
  while (f <= fl) {
    let fe = filter.indexOf('/', f)
    if (fe < 0) fe = fl
    const single = fe - f === 1
    const c = filter.charCodeAt(f)
    if (single && c === HASH) return true
    if (t > tl) return false
    let te = topic.indexOf('/', t)
    if (te < 0) te = tl
    if (!(single && c === PLUS)) {
      if (fe - f !== te - t) return false
      for (let i = f, j = t; i < fe; i++, j++) if (filter.charCodeAt(i) !== topic.charCodeAt(j)) return false
    }
    f = fe + 1
    t = te + 1
  }
  return t > tl
}

/**
 * Are the wildcards of `filter` where they may be: `#` only as the whole last level [MQTT-4.7.1-2],
 * `+` only as a whole level [MQTT-4.7.1-3]? Emptiness, length limits and `$share/` are the caller's.
 */
export function wildcardsInPlace(filter: string): boolean {
  const fl = filter.length
  for (let i = 0; i < fl; i++) {
    const c = filter.charCodeAt(i)
    if (c !== PLUS && c !== HASH) continue
    const alone = (i === 0 || filter.charCodeAt(i - 1) === SLASH) && (i === fl - 1 || filter.charCodeAt(i + 1) === SLASH)
    if (!alone || (c === HASH && i !== fl - 1)) return false
  }
  return true
}

/** The filter of a shared subscription `$share/<group>/<filter>` [MQTT 5.0 §4.8.2]; other filters unchanged. */
export function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter
  const rest = filter.indexOf('/', 7)
  return rest < 0 ? filter : filter.slice(rest + 1)
}


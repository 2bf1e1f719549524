/**
 * A reference for MQTT topic filter matching [MQTT-4.7], written differently from the code under test
 * (a regular expression per filter instead of a scan), and fast-check generators of topic names and
 * valid filters. Used by test/core/mqtt-wire.test.ts (core's topicMatches) and test/broker/topics.test.ts
 * (the subscription trie and the retained tree).
 */
import fc from 'fast-check'

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Does the valid, non-shared filter `filter` match the topic name `topic`? */
export function referenceMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] a first-level wildcard never matches a topic starting with $
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  let re = ''
  filter.split('/').forEach((level, i) => {
    if (level === '#') re += i === 0 ? '.*' : '(/.*)?' // also the parent level [MQTT-4.7.1-2]
    else re += (i === 0 ? '' : '/') + (level === '+' ? '[^/]*' : escapeRe(level))
  })
  return new RegExp(`^${re}$`, 's').test(topic)
}

/** Few levels, so that generated filters and topics often match; `$` levels for [MQTT-4.7.2-1]. */
const narrowLevel = fc.constantFrom('', 'a', 'b', '$SYS', '$x')
/** Any level of a topic name: no `/`, no wildcards; regex and UTF-16 corner cases included. */
const wideLevel = fc.oneof(
  narrowLevel,
  fc.constantFrom('ü', '€uro', '.*', '(x)', '[a]', '\\', 'a b', '$', '\uD800', 'A'),
  fc.string({ unit: 'binary', maxLength: 6 }).filter((s) => !/[/+#]/.test(s)),
)

function topicOf(level: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'))
}

/** A valid filter: levels or `+`, optionally ending in `#` [MQTT-4.7.1]. */
function filterOf(level: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc
    .tuple(fc.array(fc.oneof(level, fc.constant('+')), { maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => (levels.length === 0 || hash ? [...levels, '#'] : levels).join('/'))
}

export const narrowTopic = topicOf(narrowLevel)
export const narrowFilter = filterOf(narrowLevel)
export const wideTopic = topicOf(wideLevel)

/** A filter made from `topic`: some levels turned into `+`, maybe cut short with `#`, maybe one level changed. */
export function filterFrom(topic: string): fc.Arbitrary<string> {
  const levels = topic.split('/')
  return fc
    .tuple(fc.array(fc.boolean(), { minLength: levels.length, maxLength: levels.length }), fc.nat({ max: levels.length + 1 }), fc.option(fc.tuple(fc.nat(), wideLevel)))
    .map(([plus, cut, change]) => {
      const out = levels.map((l, i) => (plus[i] ? '+' : l))
      if (change !== null) out[change[0] % out.length] = change[1]
      return cut < out.length ? [...out.slice(0, cut), '#'].join('/') : out.join('/')
    })
}

/** A share name [MQTT-4.8.2]: at least one character, no `/`, `+` or `#`. */
export const shareName = fc.string({ minLength: 1, maxLength: 6 }).filter((s) => !/[/+#]/.test(s))

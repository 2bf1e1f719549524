import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { RetainedTree } from '../../src/broker/retained.ts'
import { parseFilter, topicNameProblem } from '../../src/broker/topics.ts'
import { TopicTrie } from '../../src/broker/trie.ts'
import type { Subscription } from '../../src/broker/types.ts'
import { topicMatches } from '../../src/core/mqtt-wire/index.ts'
import type { Message } from '../../src/core/types.ts'
import { narrowFilter, narrowTopic, referenceMatches, wideTopic } from '../helpers/topic-filters.ts'

const limits = { maxLength: 100, maxLevels: 8 }

function sub(raw: string): Subscription {
  const p = parseFilter(raw, limits)
  if (typeof p === 'string') throw new Error(p)
  return { raw, filter: p.filter, share: p.share, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: undefined, session: null, local: () => undefined, noLocalOrigin: undefined }
}

function msg(topic: string): Message {
  return { topic, payload: Buffer.from(topic), qos: 0, retain: true }
}

const cases: Array<[string, string, boolean]> = [
  ['a/b', 'a/b', true],
  ['a/+', 'a/b', true],
  ['a/+', 'a/b/c', false],
  ['a/#', 'a', true],
  ['a/#', 'a/b/c', true],
  ['#', 'a/b', true],
  ['+/+', '/x', true],
  ['+', '', true],
  ['/+', '/x', true],
  ['a/+/c', 'a//c', true],
  ['#', '$SYS/x', false],
  ['+/x', '$SYS/x', false],
  ['$SYS/#', '$SYS/x', true],
  ['$SYS/+', '$SYS/x', true],
  ['a/b', 'a/B', false],
]

test('the trie and the reference matcher agree on every spec example', () => {
  for (const [filter, topic, expected] of cases) {
    assert.equal(topicMatches(filter, topic), expected, `${filter} vs ${topic} (reference)`)
    const trie = new TopicTrie()
    trie.add(sub(filter))
    assert.equal(trie.match(topic).subs.length === 1, expected, `${filter} vs ${topic} (trie)`)
  }
})

test('the trie delivers to exactly the subscriptions and shared groups whose filters the reference matcher matches', () => {
  const filters = fc.uniqueArray(narrowFilter.filter((f) => f !== ''), { minLength: 1, maxLength: 6 })
  let delivered = 0
  fc.assert(
    fc.property(filters, fc.array(narrowTopic, { minLength: 1, maxLength: 6 }), (fs, topics) => {
      const trie = new TopicTrie()
      fs.forEach((f, i) => {
        trie.add(sub(f))
        trie.add(sub(`$share/g${i}/${f}`))
      })
      for (const topic of topics) {
        const r = trie.match(topic)
        const want = fs.filter((f) => referenceMatches(f, topic))
        assert.deepEqual(r.subs.map((s) => s.filter).sort(), [...want].sort(), `subscriptions for ${JSON.stringify(topic)}`)
        assert.deepEqual(r.groups.map((g) => g.name).sort(), fs.flatMap((f, i) => (want.includes(f) ? [`g${i}`] : [])).sort(), `groups for ${JSON.stringify(topic)}`)
        delivered += want.length
      }
    }),
    { seed: 20261206, numRuns: 1500 },
  )
  assert.ok(delivered > 1000, `${delivered} deliveries`)
})

test('the retained tree returns exactly the retained topics the reference matcher matches for any filter', () => {
  let found = 0
  fc.assert(
    fc.property(fc.uniqueArray(fc.oneof(narrowTopic, wideTopic), { minLength: 1, maxLength: 8 }), fc.array(narrowFilter.filter((f) => f !== ''), { minLength: 1, maxLength: 4 }), (topics, filters) => {
      const tree = new RetainedTree()
      for (const t of topics) tree.set(msg(t))
      for (const f of filters) {
        const want = topics.filter((t) => referenceMatches(f, t)).sort()
        assert.deepEqual(tree.match(f).map((m) => m.topic).sort(), want, `retained for ${JSON.stringify(f)}`)
        found += want.length
      }
    }),
    { seed: 20261206, numRuns: 1500 },
  )
  assert.ok(found > 1000, `${found} retained messages found`)
})

test('removing subscriptions prunes the trie and invalidates cached matches', () => {
  const trie = new TopicTrie()
  const a = sub('x/+/z')
  const b = sub('x/#')
  trie.add(a)
  trie.add(b)
  assert.equal(trie.match('x/y/z').subs.length, 2)
  assert.equal(trie.remove(a), true)
  assert.equal(trie.match('x/y/z').subs.length, 1)
  assert.equal(trie.remove(a), false)
  assert.equal(trie.remove(b), true)
  assert.equal(trie.size, 0)
  assert.equal(trie.match('x/y/z').subs.length, 0)
})

test('shared subscriptions are grouped by share name', () => {
  const trie = new TopicTrie()
  trie.add(sub('$share/g1/s/+'))
  trie.add(sub('$share/g1/s/+'))
  trie.add(sub('$share/g2/s/#'))
  const r = trie.match('s/t')
  assert.equal(r.subs.length, 0)
  assert.deepEqual(r.groups.map((g) => [g.name, g.subs.length]).sort(), [
    ['g1', 2],
    ['g2', 1],
  ])
})

test('filters and topic names are validated as the spec says', () => {
  assert.equal(typeof parseFilter('a/#/b', limits), 'string')
  assert.equal(typeof parseFilter('a/b#', limits), 'string')
  assert.equal(typeof parseFilter('a/+b', limits), 'string')
  assert.equal(typeof parseFilter('', limits), 'string')
  assert.equal(typeof parseFilter('$share/g', limits), 'string')
  assert.equal(typeof parseFilter('$share//a', limits), 'string')
  assert.deepEqual(parseFilter('$share/g/a/+', limits), { filter: 'a/+', share: 'g' })
  assert.equal(typeof parseFilter('a/b/c/d/e/f/g/h/i', limits), 'string')
  assert.equal(topicNameProblem('a/b', limits), null)
  assert.notEqual(topicNameProblem('a/+', limits), null)
  assert.notEqual(topicNameProblem('', limits), null)
  assert.notEqual(topicNameProblem('a\u0000b', limits), null)
  assert.notEqual(topicNameProblem('x'.repeat(101), limits), null)
})

test('retained messages are found by wildcard filters without crossing the $ rule', () => {
  const tree = new RetainedTree()
  for (const t of ['a', 'a/b', 'a/b/c', 'a/x/c', '$SYS/up', 'b']) tree.set(msg(t))
  const topics = (f: string): string[] => tree.match(f).map((m) => m.topic).sort()
  assert.deepEqual(topics('a/#'), ['a', 'a/b', 'a/b/c', 'a/x/c'])
  assert.deepEqual(topics('a/+/c'), ['a/b/c', 'a/x/c'])
  assert.deepEqual(topics('#'), ['a', 'a/b', 'a/b/c', 'a/x/c', 'b'])
  assert.deepEqual(topics('+'), ['a', 'b'])
  assert.deepEqual(topics('$SYS/#'), ['$SYS/up'])
  assert.equal(tree.size, 6)
  assert.equal(tree.delete('a/b'), true)
  assert.equal(tree.delete('a/b'), false)
  assert.deepEqual(topics('a/#'), ['a', 'a/b/c', 'a/x/c'])
  tree.set(msg('a/b/c'))
  assert.equal(tree.size, 5)
})

test('a deep topic tree is matched without recursion limits', () => {
  const trie = new TopicTrie()
  const deep = Array.from({ length: 5000 }, (_, i) => `l${i}`).join('/')
  const s: Subscription = { ...sub('x'), filter: deep, raw: deep }
  trie.add(s)
  trie.add({ ...sub('x'), filter: '#', raw: '#' })
  assert.equal(trie.match(deep).subs.length, 2)
})

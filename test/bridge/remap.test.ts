import assert from 'node:assert/strict'
import { test } from 'node:test'
import { compileTemplate, coverFilter, filtersOverlap, renderTemplate, stripPrefix } from '../../src/bridge/remap.ts'
import { topicMatches } from '../../src/core/mqtt-wire/index.ts'

test('filters match topics by levels, with + for one level and # for the rest including the parent', () => {
  assert.equal(topicMatches('a/+/c', 'a/b/c'), true)
  assert.equal(topicMatches('a/+/c', 'a/b/d'), false)
  assert.equal(topicMatches('a/#', 'a'), true)
  assert.equal(topicMatches('a/#', 'a/b/c'), true)
  assert.equal(topicMatches('a/b', 'a/b/c'), false)
  assert.equal(topicMatches('+', 'a/b'), false)
})

test('wildcard filters do not match $-topics unless they name the $ level', () => {
  assert.equal(topicMatches('#', '$SYS/x'), false)
  assert.equal(topicMatches('+/x', '$SYS/x'), false)
  assert.equal(topicMatches('$SYS/#', '$SYS/x'), true)
})

test('a template fills in the gateway id, the whole topic and single levels', () => {
  const t = compileTemplate('fleet/{gateway}/{2}/{topic}')
  assert.equal(renderTemplate(t, 'plant/line1/temp', 'gw7'), 'fleet/gw7/line1/plant/line1/temp')
})

test('a template without placeholders is a fixed topic', () => {
  const t = compileTemplate('cloud/all')
  assert.equal(t.fixed, true)
  assert.equal(renderTemplate(t, 'anything/here', 'gw'), 'cloud/all')
})

test('a level beyond the topic or a wildcard in the result gives no topic', () => {
  assert.equal(renderTemplate(compileTemplate('x/{3}'), 'a/b', 'gw'), null)
  assert.equal(renderTemplate(compileTemplate('x/{1}'), 'a+/b', 'gw'), null)
})

test('an unknown placeholder is rejected when the template is compiled', () => {
  assert.throws(() => compileTemplate('x/{host}'), /unknown placeholder \{host\}/)
})

test('a prefix is stripped only when the topic starts with it and has more after it', () => {
  assert.equal(stripPrefix('site/a/b', 'site/'), 'a/b')
  assert.equal(stripPrefix('other/a', 'site/'), 'other/a')
  assert.equal(stripPrefix('site/', 'site/'), 'site/')
  assert.equal(stripPrefix('a', undefined), 'a')
})

test('the cover filter of a rule contains every remote topic the rule can produce', () => {
  assert.equal(coverFilter(compileTemplate('cloud/{topic}'), 'sensors/+/temp', undefined, 'gw'), 'cloud/sensors/+/temp')
  assert.equal(coverFilter(compileTemplate('cloud/{topic}'), 'site/a/#', 'site/', 'gw'), 'cloud/a/#')
  assert.equal(coverFilter(compileTemplate('c/{gateway}/{2}'), 'a/+/b', undefined, 'gw'), 'c/gw/+')
  assert.equal(coverFilter(compileTemplate('c/{1}x/{topic}'), '+/y', undefined, 'gw'), 'c/+/+/y')
  assert.equal(coverFilter(compileTemplate('fixed/t'), '#', undefined, 'gw'), 'fixed/t')
  const cover = coverFilter(compileTemplate('up/{gateway}/{topic}'), 'plant/#', undefined, 'gw1')
  for (const local of ['plant', 'plant/a', 'plant/a/b/c']) {
    const remote = renderTemplate(compileTemplate('up/{gateway}/{topic}'), local, 'gw1')
    assert.ok(remote !== null && topicMatches(cover, remote), `${remote} under ${cover}`)
  }
})

test('two filters overlap when some topic matches both', () => {
  assert.equal(filtersOverlap('a/+/c', 'a/b/#'), true)
  assert.equal(filtersOverlap('a/b', 'a/c'), false)
  assert.equal(filtersOverlap('a/b', 'a/b/c'), false)
  assert.equal(filtersOverlap('cmd/#', '#'), true)
})

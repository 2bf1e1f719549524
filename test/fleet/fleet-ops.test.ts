import assert from 'node:assert/strict'
import { generateKeyPairSync, sign as edSign } from 'node:crypto'
import { test } from 'node:test'
import { isManagementTopic } from '../../src/core/index.ts'
import { checkConfigSignature, configSigningBytes } from '../../src/fleet/config-signature.ts'
import { keyId } from '../../src/update/keys.ts'
import { parseSelector, runWaves, select, waveSizes, type GatewayResult } from '../../src/fleet/ops/index.ts'
import { configFor } from '../../src/fleet/ops/config-rollout.ts'
import { expandRanges } from '../../src/fleet/ops/feeder.ts'
import { parseRequest } from '../../src/fleet/rpc.ts'
import { chunkOf, mgmtTopics, sharedTransferTopic, transferId, validReplyTopic } from '../../src/fleet/topics.ts'
import { ranges } from '../../src/fleet/transfer.ts'

const inv = (o: Record<string, unknown>): Record<string, unknown> => ({ online: true, version: '0.1.0', board: { arch: 'x64', platform: 'linux' }, config: { source: 'file' }, health: { overall: 'ok' }, ...o })
const known = new Map<string, Record<string, unknown>>([
  ['site-10', inv({})],
  ['site-2', inv({ version: '0.2.0' })],
  ['site-1', inv({ board: { arch: 'arm64' } })],
  ['depot', inv({ online: false })],
])

test('selectors: all, ids, patterns and inventory filters; rollout order compares numbers as numbers', () => {
  assert.deepEqual(select(parseSelector('all'), known).ids, ['depot', 'site-1', 'site-2', 'site-10'])
  assert.deepEqual(select(parseSelector('site-*'), known).ids, ['site-1', 'site-2', 'site-10'])
  assert.deepEqual(select(parseSelector('site-1?,depot'), known).ids, ['depot', 'site-10'])
  assert.deepEqual(select(parseSelector('version=0.1.0,arch=x64'), known).ids, ['depot', 'site-10'])
  assert.deepEqual(select(parseSelector('site-*,online=true,version=0.1.0'), known).ids, ['site-1', 'site-10'])
  assert.deepEqual(select(parseSelector('site-1,nowhere'), known), { ids: ['site-1'], unknown: ['nowhere'] })
  assert.throws(() => parseSelector('colour=red'), /unknown filter "colour"/)
  assert.throws(() => parseSelector(' , '), /--to is empty/)
  assert.throws(() => parseSelector('a/b'), /not a gateway id/)
})

test('waves grow from the canary by the factor, capped, and cover every gateway once', () => {
  assert.deepEqual(waveSizes(10, { canary: 1, factor: 2, maxWave: 50 }), [1, 2, 4, 3])
  assert.deepEqual(waveSizes(5, { canary: 1, factor: 2, maxWave: 50 }), [1, 2, 2])
  assert.deepEqual(waveSizes(7, { canary: 2, factor: 1, maxWave: 50 }), [2, 3, 2], 'factor 1 still grows by one')
  assert.deepEqual(waveSizes(9, { canary: 1, factor: 10, maxWave: 3 }), [1, 3, 3, 2])
  assert.deepEqual(waveSizes(0, { canary: 1, factor: 2, maxWave: 5 }), [])
  for (let n = 1; n < 200; n += 7) assert.equal(waveSizes(n, { canary: 3, factor: 1.5, maxWave: 20 }).reduce((a, b) => a + b, 0), n)
})

test('a rollout stops once more gateways failed than --max-failures allows; later waves are not started', async () => {
  const ids = ['a', 'b', 'c', 'd', 'e']
  const fail = new Set(['b', 'c'])
  const waves: string[][] = []
  const run = (max: number) =>
    runWaves(ids, { canary: 1, factor: 2, maxWave: 10 }, max, {
      runWave: async (w, n) => {
        waves.push(w)
        return w.map((id): GatewayResult => ({ id, wave: n, outcome: fail.has(id) ? 'failed' : 'ok', state: '', detail: '', ms: 1 }))
      },
    })
  const stop = await run(1)
  assert.equal(stop.stopped, true)
  assert.deepEqual(waves, [['a'], ['b', 'c']])
  assert.deepEqual(stop.results.map((r) => [r.id, r.outcome]), [['a', 'ok'], ['b', 'failed'], ['c', 'failed'], ['d', 'not started'], ['e', 'not started']])
  waves.length = 0
  const go = await run(2)
  assert.equal(go.stopped, false)
  assert.deepEqual(waves, [['a'], ['b', 'c'], ['d', 'e']])
})

test('update requests carry the signed manifest as the body or in "manifest", and an install flag', () => {
  const t = mgmtTopics('gw1')
  const manifest = { format: 'fieldgate-update/1', version: '0.2.0' }
  const bare = parseRequest(t, 'fieldgate/gw1/mgmt/req/update', Buffer.from(JSON.stringify(manifest)))
  assert.ok(bare?.ok)
  assert.deepEqual(JSON.parse(bare.request.manifest ?? ''), manifest)
  assert.equal(bare.request.install, true)
  const wrapped = parseRequest(t, 'fieldgate/gw1/mgmt/req/update', Buffer.from(JSON.stringify({ manifest, install: false, reply_to: 'ops/r', correlation_id: '7' })))
  assert.ok(wrapped?.ok)
  assert.equal(wrapped.request.install, false)
  assert.equal(wrapped.request.route.topic, 'ops/r')
  const fromUrl = parseRequest(t, 'fieldgate/gw1/mgmt/req/update', Buffer.from(JSON.stringify({ manifest, url: 'https://releases.example.com/fieldgate-arm64' })))
  assert.ok(fromUrl?.ok)
  assert.equal(fromUrl.request.url, 'https://releases.example.com/fieldgate-arm64')
  for (const [body, re] of [['not json', /is JSON/], [JSON.stringify({ manifest: 3 }), /carries the signed manifest/], [JSON.stringify({ manifest, install: 'yes' }), /install must be/], [JSON.stringify({ manifest, url: 'http://x/fw' }), /url must be an https:\/\/ URL/], [JSON.stringify({ manifest, url: 7 }), /url must be/]] as const) {
    const p = parseRequest(t, 'fieldgate/gw1/mgmt/req/update', Buffer.from(body))
    assert.ok(p && !p.ok)
    assert.match(p.reason, re)
  }
})

test('chunk topics: the shared one and the gateway\'s own; both lie in the management trees, which replies and forward rules never reach', () => {
  const t = mgmtTopics('gw1')
  const id = transferId('ab'.repeat(32))
  assert.equal(id, 'abababababababab')
  assert.deepEqual(chunkOf(t, `${sharedTransferTopic(id)}/12`), { transfer: id, index: 12 })
  assert.deepEqual(chunkOf(t, `fieldgate/gw1/mgmt/req/chunk/${id}/0`), { transfer: id, index: 0 })
  for (const bad of [`fieldgate/gw2/mgmt/req/chunk/${id}/0`, `${sharedTransferTopic(id)}/-1`, `${sharedTransferTopic(id)}/01`, `${sharedTransferTopic(id)}/1/2`, `fieldgate/updates/xyz/1`]) assert.equal(chunkOf(t, bad), null, bad)
  assert.ok(isManagementTopic(`${sharedTransferTopic(id)}/3`))
  assert.ok(isManagementTopic('fieldgate/updates'))
  assert.ok(!isManagementTopic('fieldgate/updatesx/1'))
  assert.ok(!validReplyTopic(`${sharedTransferTopic(id)}/3`), 'a reply cannot inject a chunk')
})

test('missing chunks travel as [first, count] runs both ways; per-gateway configs replace {{id}}', () => {
  assert.deepEqual(ranges([0, 1, 2, 5, 7, 8], 10), [[0, 3], [5, 1], [7, 2]])
  assert.deepEqual(ranges([0, 2, 4, 6], 2), [[0, 1], [2, 1]])
  assert.deepEqual(expandRanges([[0, 3], [5, 1], [7, 2]], 100), [0, 1, 2, 5, 7, 8])
  assert.deepEqual(expandRanges([[98, 5], ['x', 1], [-3, 4]], 100), [98, 99, 0])
  assert.deepEqual(expandRanges('nope', 10), [])
  assert.equal(configFor('id = "{{id}}"\npath = "/d/{{id}}"', 'site-3'), 'id = "site-3"\npath = "/d/site-3"')
})

test('an operator signature authorises one config text on one gateway until it expires', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')
  const keys = [{ id: keyId(raw), key: publicKey }]
  const now = Date.parse('2026-12-06T12:00:00Z')
  const signed = (id: string, text: string, expires: string) => ({ key_id: keyId(raw), expires, sig: edSign(null, configSigningBytes(id, text, expires), privateKey).toString('base64') })
  const s = signed('site-1', 'a = 1', '2026-12-06T12:10:00Z')
  assert.equal(checkConfigSignature(keys, 'site-1', 'a = 1', s, now), null)
  assert.match(checkConfigSignature(keys, 'site-2', 'a = 1', s, now) ?? '', /does not verify .* for gateway site-2/)
  assert.match(checkConfigSignature(keys, 'site-1', 'a = 2', s, now) ?? '', /does not verify/)
  assert.match(checkConfigSignature(keys, 'site-1', 'a = 1', undefined, now) ?? '', /takes only configs signed by an operator key/)
  assert.match(checkConfigSignature(keys, 'site-1', 'a = 1', { ...s, key_id: '0123456789abcdef' }, now) ?? '', /not in uplinks\.management\.operator_keys/)
  assert.equal(checkConfigSignature(keys, 'site-1', 'a = 1', s, now + 14 * 60_000), null, 'five minutes of clock difference are tolerated')
  assert.match(checkConfigSignature(keys, 'site-1', 'a = 1', s, now + 16 * 60_000) ?? '', /expired at 2026-12-06T12:10:00Z/)
  const long = signed('site-1', 'a = 1', '2026-12-08T12:00:00Z')
  assert.match(checkConfigSignature(keys, 'site-1', 'a = 1', long, now) ?? '', /more than 24 h ahead/)
  const p = parseRequest(mgmtTopics('site-1'), 'fieldgate/site-1/mgmt/req/config', Buffer.from(JSON.stringify({ config: 'a = 1', signature: s })))
  assert.ok(p?.ok)
  assert.deepEqual(p.request.signature, s)
  const bad = parseRequest(mgmtTopics('site-1'), 'fieldgate/site-1/mgmt/req/config', Buffer.from(JSON.stringify({ config: 'a = 1', signature: 'x' })))
  assert.ok(bad && !bad.ok)
  assert.match(bad.reason, /signature must be/)
})

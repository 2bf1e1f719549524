import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isFieldgateError } from '../../src/core/errors.ts'
import { canonicalBytes, manifestToJson, parseManifest } from '../../src/update/manifest.ts'
import { compareSemver, parseSemver } from '../../src/update/semver.ts'
import { checkManifest, elfArch } from '../../src/update/verify.ts'
import { fakeElf, manifestFor, newKey, policy } from './helpers.ts'

const refusedWith = (re: RegExp) => (err: unknown) => isFieldgateError(err, 'UPDATE_REFUSED') && re.test(err.message) && !err.message.includes('\n')

test('a manifest signed by a trusted key survives its JSON round trip and is accepted', () => {
  const k = newKey()
  const m = manifestFor(fakeElf('x64', Buffer.alloc(3000, 7)), k.priv)
  const back = parseManifest(manifestToJson(m))
  assert.deepEqual(back, m)
  checkManifest(back, policy([k.trusted]))
})

test('an altered field, another key, or no trusted key is refused with one line naming the key', () => {
  const k = newKey()
  const other = newKey()
  const m = manifestFor(fakeElf('x64', Buffer.alloc(3000, 7)), k.priv)
  for (const field of ['version', 'size', 'sha256', 'downgrade', 'chunks'] as const) {
    const o = JSON.parse(manifestToJson(m)) as Record<string, unknown>
    o[field] = field === 'version' ? '9.9.9' : field === 'size' ? 2999 : field === 'downgrade' ? true : field === 'chunks' ? [...m.chunks].reverse() : 'a'.repeat(64)
    const text = JSON.stringify(o)
    assert.throws(() => checkManifest(parseManifest(text), policy([k.trusted])), refusedWith(/does not verify|chunk hashes/), field)
  }
  assert.throws(() => checkManifest(m, policy([other.trusted])), refusedWith(new RegExp(`signed by key ${m.keyId}, which is not in update.public_keys`)))
  assert.throws(() => checkManifest(m, policy([])), refusedWith(/none configured/))
})

test('another architecture, an oversized executable and a downgrade without signed permission are refused', () => {
  const k = newKey()
  const bytes = fakeElf('x64', Buffer.alloc(3000, 1))
  assert.throws(() => checkManifest(manifestFor(bytes, k.priv, { arch: 'arm64' }), policy([k.trusted])), refusedWith(/built for arm64, this gateway runs x64/))
  assert.throws(() => checkManifest(manifestFor(bytes, k.priv), policy([k.trusted], { maxBytes: 1000 })), refusedWith(/more than update.max_size/))
  assert.throws(() => checkManifest(manifestFor(bytes, k.priv, { version: '0.0.9' }), policy([k.trusted])), refusedWith(/older than the running 0.1.0.*--downgrade-from VERSION/))
  assert.throws(() => checkManifest(manifestFor(bytes, k.priv, { version: '0.1.0-rc.1' }), policy([k.trusted])), refusedWith(/older/))
  checkManifest(manifestFor(bytes, k.priv, { version: '0.0.9', downgradeFrom: '0.1.0' }), policy([k.trusted]))
  checkManifest(manifestFor(bytes, k.priv, { version: '0.1.0' }), policy([k.trusted]))
})

test('a signed downgrade replaces only versions up to its downgrade_from: replayed against a later release it is refused', () => {
  const k = newKey()
  const bytes = fakeElf('x64', Buffer.alloc(3000, 1))
  // Signed once to take 0.3.x back to 0.2.0.
  const back = parseManifest(manifestToJson(manifestFor(bytes, k.priv, { version: '0.2.0', downgradeFrom: '0.3.1' })))
  assert.equal(back.downgradeFrom, '0.3.1')
  checkManifest(back, policy([k.trusted], { runningVersion: '0.3.0' }))
  checkManifest(back, policy([k.trusted], { runningVersion: '0.3.1' }))
  // The same manifest replayed at a gateway that has moved on (main before this accepted it).
  assert.throws(() => checkManifest(back, policy([k.trusted], { runningVersion: '0.9.0' })), refusedWith(/may replace versions up to 0\.3\.1, and this gateway runs 0\.9\.0/))
  assert.throws(() => checkManifest(back, policy([k.trusted], { runningVersion: '0.3.2-rc.1' })), refusedWith(/up to 0\.3\.1/))
  // A downgrade signed without a bound (as fieldgate sign --allow-downgrade wrote them) is refused outright.
  assert.throws(() => checkManifest(manifestFor(bytes, k.priv, { version: '0.0.9', unboundedDowngrade: true }), policy([k.trusted])), refusedWith(/without downgrade_from/))
  // The bound is signed: raising it breaks the signature.
  const o = JSON.parse(manifestToJson(back)) as Record<string, unknown>
  assert.throws(() => checkManifest(parseManifest(JSON.stringify({ ...o, downgrade_from: '9.9.9' })), policy([k.trusted], { runningVersion: '0.9.0' })), refusedWith(/does not verify/))
  assert.throws(() => parseManifest(JSON.stringify({ ...o, downgrade: false })), refusedWith(/downgrade_from is set but downgrade is false/))
})

test('an upgrade signs the same bytes as before downgrade_from existed, so gateways already in the field accept it', () => {
  const m = manifestFor(fakeElf('x64', Buffer.alloc(3000, 1)), newKey().priv)
  assert.deepEqual(JSON.parse(canonicalBytes(m).toString()), [m.format, m.version, m.arch, m.size, m.sha256, m.chunkSize, m.chunks, false, m.keyId])
  assert.equal('downgrade_from' in (JSON.parse(manifestToJson(m)) as object), false)
})

test('malformed manifests are refused saying which field', () => {
  assert.throws(() => parseManifest('{'), refusedWith(/not JSON/))
  assert.throws(() => parseManifest('{"format":"other"}'), refusedWith(/format "other"/))
  const k = newKey()
  const o = JSON.parse(manifestToJson(manifestFor(fakeElf('x64', Buffer.alloc(10)), k.priv))) as Record<string, unknown>
  assert.throws(() => parseManifest(JSON.stringify({ ...o, chunk_size: 10 })), refusedWith(/chunk_size 10/))
  assert.throws(() => parseManifest(JSON.stringify({ ...o, version: 'v1' })), refusedWith(/"v1" is not a semantic version/))
  assert.throws(() => parseManifest(JSON.stringify({ ...o, size: '30' })), refusedWith(/"size" must be a whole number/))
})

test('semver orders releases, pre-releases before their release', () => {
  const order = ['0.0.9', '0.1.0-alpha', '0.1.0-alpha.1', '0.1.0-alpha.beta', '0.1.0-beta.2', '0.1.0-beta.11', '0.1.0', '0.1.1', '0.10.0', '1.0.0']
  const parsed = order.map((v) => parseSemver(v))
  for (let i = 0; i + 1 < parsed.length; i++) {
    const [a, b] = [parsed[i], parsed[i + 1]]
    assert.ok(a && b)
    assert.equal(compareSemver(a, b), -1, `${order[i]} < ${order[i + 1]}`)
    assert.equal(compareSemver(b, a), 1)
  }
  assert.equal(compareSemver(parseSemver('1.2.3+build.5') ?? assert.fail(), parseSemver('1.2.3') ?? assert.fail()), 0)
  assert.equal(parseSemver('01.2.3'), null)
})

test('elfArch reads the machine and class of an ELF header, and nothing else passes', () => {
  assert.equal(elfArch(fakeElf('x64', Buffer.alloc(0))), 'x64')
  assert.equal(elfArch(fakeElf('arm64', Buffer.alloc(0))), 'arm64')
  assert.equal(elfArch(fakeElf('armv7', Buffer.alloc(0))), 'armv7')
  assert.equal(elfArch(Buffer.from('#!/bin/sh\nexit 1\n')), null)
})

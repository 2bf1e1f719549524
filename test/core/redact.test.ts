import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { redactFields, redactText, redactUrl, splitCredentials } from '../../src/core/redact.ts'

const SEED = Number(process.env.FUZZ_SEED ?? 20261206)
const RUNS = 3000

test('a URL password is replaced by *** and the user name, host and path stay', () => {
  assert.equal(redactUrl('mqtt://user:secret@127.0.0.1:1883'), 'mqtt://user:***@127.0.0.1:1883')
  assert.equal(redactUrl('mqtts://gw-7:p%40ss%2Fw0rd@cloud.example:8883/x'), 'mqtts://gw-7:***@cloud.example:8883/x')
  assert.equal(redactUrl('wss://user:pa/ss?w#rd@host:443/mqtt'), 'wss://user:***@host:443/mqtt', 'raw / ? # in a password')
  assert.equal(redactUrl('mqtt://user:p@ss@host'), 'mqtt://user:***@host', 'raw @ in a password')
  assert.equal(redactUrl('mqtt://token-only@host'), 'mqtt://token-only@host', 'a user name alone is not a secret')
  assert.equal(redactUrl('mqtt://host:1883'), 'mqtt://host:1883')
  assert.equal(redactUrl('wss://host/mqtt?token=abc&x=1&Password=p&api_key=k#f'), 'wss://host/mqtt?token=***&x=1&Password=***&api_key=***#f')
})

test('splitCredentials takes user info out of a URL for a client to be given separately', () => {
  assert.deepEqual(splitCredentials('mqtt://u:p%40ss@h:1/x'), { url: 'mqtt://h:1/x', username: 'u', password: 'p@ss' })
  assert.deepEqual(splitCredentials('wss://u:pa/ss@h/mqtt'), { url: 'wss://h/mqtt', username: 'u', password: 'pa/ss' })
  assert.deepEqual(splitCredentials('mqtt://only@h'), { url: 'mqtt://h', username: 'only' })
  assert.deepEqual(splitCredentials('ws://h/p?mail=a@b'), { url: 'ws://h/p?mail=a@b' })
  assert.deepEqual(splitCredentials('mqtt://h:1883'), { url: 'mqtt://h:1883' })
})

test('URLs inside free text are redacted, the rest of the text is kept', () => {
  assert.equal(
    redactText('connect to "mqtt://u:secret@h:1" failed (ECONNREFUSED); next mqtt://v:other@h:2'),
    'connect to "mqtt://u:***@h:1" failed (ECONNREFUSED); next mqtt://v:***@h:2',
  )
  assert.equal(redactText('no url here: user:pass'), 'no url here: user:pass')
})

test('log fields: nested strings and errors are redacted in a copy; clean fields are returned as they are', () => {
  const clean = { a: 1, b: 'mqtt://host:1', c: [{ d: 'x' }] }
  assert.equal(redactFields(clean), clean)
  const dirty = { server: 'mqtt://u:secret@h', nested: { list: ['ok', 'ws://u:secret@h/x'] }, err: new Error('bad url mqtt://u:secret@h') }
  const out = redactFields(dirty)
  assert.equal(JSON.stringify(out).includes('secret'), false)
  assert.equal(out.err.message, 'bad url mqtt://u:***@h')
  assert.equal(dirty.server, 'mqtt://u:secret@h', 'the caller’s object is not changed')
})

// Generators. The parts a URL is built from never hold Q, W or Z; passwords and secret values always
// do, and may hold any other character but whitespace (raw, as pasted into a config file), so "the output
// has no Q, W or Z" is "no piece of the secret leaked".
const MARK = /[QWZ]/
const secretArb = fc
  .string({ unit: fc.constantFrom(...'QWZQWZ019!$&\'()*+,;=:@/?#[]%"`<>{}|^~.-_'.split('')), minLength: 1, maxLength: 24 })
  .map((s) => (MARK.test(s) ? s : `Q${s}`))
const anyPasswordArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 24 })
const userArb = fc.stringMatching(/^[a-z0-9._~-]{0,12}$/)
const hostArb = fc.constantFrom('127.0.0.1', 'cloud.example', '[::1]', 'broker-7.iot.example.com')
const portArb = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined })
const pathArb = fc.constantFrom('', '/', '/mqtt', '/a/b')
const queryArb = fc.option(fc.array(fc.tuple(fc.constantFrom('x', 'client', 'v'), fc.stringMatching(/^[a-z0-9]{0,6}$/)), { maxLength: 3 }), { nil: undefined })
const schemeArb = fc.constantFrom('mqtt', 'mqtts', 'ws', 'wss')

function build(scheme: string, user: string, password: string, host: string, port: number | undefined, path: string, query: Array<[string, string]> | undefined): string {
  const q = query === undefined ? '' : `?${query.map(([k, v]) => `${k}=${v}`).join('&')}`
  return `${scheme}://${user}:${password}@${host}${port === undefined ? '' : `:${port}`}${path}${q}`
}

test('property: no piece of a raw password survives, and the rest of the URL does', () => {
  fc.assert(
    fc.property(schemeArb, userArb, secretArb, hostArb, portArb, pathArb, queryArb, (s, u, p, h, port, path, q) => {
      const url = build(s, u, p, h, port, path, q)
      const out = redactUrl(url)
      assert.ok(!MARK.test(out), `${url} -> ${out}`)
      assert.equal(out, build(s, u, '***', h, port, path, q))
      // what is hidden is what a client is given as the password (decoded, as url.parse would)
      let decoded = p
      try {
        decoded = decodeURIComponent(p)
      } catch {
        // kept raw
      }
      assert.deepEqual(splitCredentials(url), { url: build(s, '', '', h, port, path, q).replace('://:@', '://'), username: u, password: decoded })
      // the same inside text, as in an error message
      assert.equal(redactText(`uplink cloud: connect ${url} failed`), `uplink cloud: connect ${out} failed`)
    }),
    { seed: SEED, numRuns: RUNS },
  )
})

test('property: a password of any characters, percent-encoded by URL, never appears in the redacted URL', () => {
  fc.assert(
    fc.property(schemeArb, userArb, anyPasswordArb, hostArb, portArb, pathArb, (s, u, p, h, port, path) => {
      const url = new URL(`${s}://${h}${port === undefined ? '' : `:${port}`}${path}`)
      url.username = u === '' ? 'u' : u
      url.password = p
      const out = redactUrl(url.toString())
      assert.equal(out, `${url.protocol}//${url.username}:***@${url.host}${url.pathname}${url.search}${url.hash}`)
    }),
    { seed: SEED, numRuns: RUNS },
  )
})

test('property: no piece of a secret query value survives, with or without user info', () => {
  fc.assert(
    fc.property(
      schemeArb,
      fc.constantFrom('', 'gw@', 'gw:pw@'),
      hostArb,
      portArb,
      fc.constantFrom('token', 'password', 'access_token', 'apiKey', 'secret', 'sig'),
      secretArb.map((v) => v.replace(/[&#]/g, 'Q')),
      (s, auth, h, port, name, v) => {
        const url = `${s}://${auth}${h}${port === undefined ? '' : `:${port}`}/mqtt?x=1&${name}=${v}&v=2`
        const out = redactUrl(url)
        assert.ok(!MARK.test(out), `${url} -> ${out}`)
        assert.ok(out.startsWith(`${s}://`), out)
      },
    ),
    { seed: SEED, numRuns: RUNS },
  )
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isFieldgateError } from '../../../src/core/errors.ts'
import { hashPassword, parseHash, parsePasswordFile, PasswordChecker, upsertPasswordLine, verifyPassword } from '../../../src/broker/auth/passwords.ts'
import { parseTokensFile, revokedDevices, tokenDigest } from '../../../src/broker/auth/tokens.ts'

const FAST = { ln: 10, r: 8, p: 1 }

test('a hashed password verifies and a wrong one does not', { timeout: 10_000 }, async () => {
  const hash = await hashPassword('correct horse', FAST)
  assert.match(hash, /^\$scrypt\$v=1\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
  const parsed = parseHash(hash)
  assert.ok(parsed)
  assert.equal(await verifyPassword('correct horse', parsed), true)
  assert.equal(await verifyPassword('correct horsE', parsed), false)
})

test('the same password hashes differently each time because of the salt', { timeout: 10_000 }, async () => {
  assert.notEqual(await hashPassword('pw', FAST), await hashPassword('pw', FAST))
})

test('the default cost is what a file without explicit parameters gets', { timeout: 10_000 }, async () => {
  const hash = await hashPassword('pw')
  assert.match(hash, /ln=14,r=8,p=1/)
})

test('a password file parses users and rejects a malformed line naming the line number', { timeout: 10_000 }, async () => {
  const h = await hashPassword('pw', FAST)
  const users = parsePasswordFile(`# users\n\nalice:${h}\nbob:${h}\n`, 'pw.txt')
  assert.deepEqual([...users.keys()], ['alice', 'bob'])
  assert.throws(
    () => parsePasswordFile(`alice:${h}\nbob:plaintext\n`, 'pw.txt'),
    (err: unknown) => isFieldgateError(err, 'AUTH_FILE') && err.message.startsWith('pw.txt:2:'),
  )
})

test('upserting replaces the user line in place and appends new users', () => {
  const text = 'alice:$scrypt$old\nbob:$scrypt$b\n'
  assert.equal(upsertPasswordLine(text, 'alice', '$scrypt$new'), 'alice:$scrypt$new\nbob:$scrypt$b\n')
  assert.equal(upsertPasswordLine(text, 'carol', '$scrypt$c'), 'alice:$scrypt$old\nbob:$scrypt$b\ncarol:$scrypt$c\n')
  assert.equal(upsertPasswordLine('', 'al', '$x'), 'al:$x\n')
  // "al" must not match the line of "alice".
  assert.equal(upsertPasswordLine(text, 'al', '$x'), text + 'al:$x\n')
})

test('the checker refuses unknown users after doing the same work as for known ones', { timeout: 10_000 }, async () => {
  const users = parsePasswordFile(`alice:${await hashPassword('pw', FAST)}\n`, 'f')
  const checker = new PasswordChecker(users)
  assert.equal(await checker.check('alice', Buffer.from('pw')), true)
  assert.equal(await checker.check('alice', Buffer.from('nope')), false)
  assert.equal(await checker.check('mallory', Buffer.from('pw')), false)
})

test('a tokens file maps tokens to device ids and refuses short or reused tokens', () => {
  const t = 'a'.repeat(24)
  const table = parseTokensFile(`# devices\n${t} pump-7\n${'b'.repeat(20)} meter-1\n`, 'tokens')
  assert.equal(table.byDigest.get(tokenDigest(t)), 'pump-7')
  assert.equal(table.byDigest.get(tokenDigest('c'.repeat(24))), undefined)
  assert.throws(() => parseTokensFile('short pump\n', 'tokens'), (e: unknown) => isFieldgateError(e, 'AUTH_FILE') && /tokens:1:.*shorter/.test(e.message))
  assert.throws(() => parseTokensFile(`${t} a\n${t} b\n`, 'tokens'), /used twice/)
  assert.throws(() => parseTokensFile(`${t}\n`, 'tokens'), /TOKEN DEVICE_ID/)
})

test('removing or replacing a device token revokes that device and no other', () => {
  const a = 'a'.repeat(24)
  const b = 'b'.repeat(24)
  const before = parseTokensFile(`${a} pump-7\n${b} meter-1\n`, 't')
  assert.deepEqual(revokedDevices(before, parseTokensFile(`${b} meter-1\n`, 't')), ['pump-7'])
  assert.deepEqual(revokedDevices(before, parseTokensFile(`${'c'.repeat(24)} pump-7\n${b} meter-1\n`, 't')), ['pump-7'])
  assert.deepEqual(revokedDevices(before, parseTokensFile(`${a} pump-7\n${b} meter-1\n${'d'.repeat(24)} new\n`, 't')), [])
})

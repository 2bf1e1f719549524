import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { parseHash, parsePasswordFile, verifyPassword } from '../../../src/broker/auth/passwords.ts'
import { tempDir } from '../../helpers/tmp.ts'

const BIN = resolve(import.meta.dirname, '../../../bin/fieldgate.js')

function run(args: string[], stdin: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'ignore', 'pipe'] })
    let stderr = ''
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000)
    p.on('exit', (code) => {
      clearTimeout(t)
      done({ code, stderr })
    })
    p.stdin.end(stdin)
  })
}

async function verify(file: string, user: string, password: string): Promise<boolean> {
  const entry = parsePasswordFile(readFileSync(file, 'utf8'), file).get(user)
  assert.ok(entry, `${user} in ${file}`)
  return verifyPassword(password, entry)
}

test('passwd reads the password from stdin, creates the file and updates users in place', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwords')
    assert.equal((await run(['passwd', file, 'alice'], 'first-pw\n')).code, 0)
    assert.equal((await run(['passwd', file, 'bob'], 'bob-password\n')).code, 0)
    const r = await run(['passwd', file, 'alice'], 'second-pw\n')
    assert.equal(r.code, 0)
    assert.doesNotMatch(r.stderr, /second-pw/)
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    assert.deepEqual(lines.map((l) => l.split(':')[0]), ['alice', 'bob'])
    assert.equal(await verify(file, 'alice', 'second-pw'), true)
    assert.equal(await verify(file, 'alice', 'first-pw'), false)
    assert.equal(await verify(file, 'bob', 'bob-password'), true)
    assert.ok(lines.every((l) => parseHash(l.slice(l.indexOf(':') + 1))))
  } finally {
    cleanup()
  }
})

test('passwd refuses an empty password and a user name with a colon, leaving the file alone', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwords')
    writeFileSync(file, '# keep me\n')
    assert.equal((await run(['passwd', file, 'alice'], '\n')).code, 1)
    assert.equal((await run(['passwd', file, 'a:b'], 'long-enough-pw\n')).code, 2)
    assert.equal(readFileSync(file, 'utf8'), '# keep me\n')
  } finally {
    cleanup()
  }
})

test('on a terminal passwd asks twice without echoing the password', { timeout: 40_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwords')
    // socat gives the command a real pty as its controlling terminal.
    const p = spawn('socat', ['-', `EXEC:${process.execPath} ${BIN} passwd ${file} carol,pty,setsid,ctty,stderr,raw,echo=0`], { stdio: ['pipe', 'pipe', 'ignore'] })
    let out = ''
    const exited = new Promise<number | null>((r) => p.on('exit', (code) => r(code)))
    const kill = setTimeout(() => p.kill('SIGKILL'), 30_000)
    const waitFor = async (s: string): Promise<void> => {
      for (let i = 0; i < 300 && !out.includes(s); i++) await new Promise((r) => setTimeout(r, 50))
      assert.ok(out.includes(s), `expected "${s}" in ${JSON.stringify(out)}`)
    }
    p.stdout.on('data', (d: Buffer) => (out += d.toString()))
    await waitFor('Password (at least 8 characters): ')
    p.stdin.write('tty-secret\r')
    await waitFor('Repeat password: ')
    p.stdin.write('tty-secret\r')
    await waitFor('carol updated')
    p.stdin.end()
    await exited
    clearTimeout(kill)
    assert.doesNotMatch(out, /tty-secret/, 'the password is never echoed')
    assert.equal(await verify(file, 'carol', 'tty-secret'), true)
  } finally {
    cleanup()
  }
})

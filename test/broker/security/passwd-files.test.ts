import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { before, test } from 'node:test'
import { parsePasswordFile, verifyPassword } from '../../../src/broker/auth/passwords.ts'
import { tempDir } from '../../helpers/tmp.ts'

/**
 * `fieldgate passwd` and the file it writes: owner, group and mode, with real chown. Each run happens in
 * a private mount namespace whose /etc/group is a file of the test's (bind-mounted), so the `fieldgate`
 * group exists or not as the test says, without touching this machine's groups.
 */
const BIN = resolve(import.meta.dirname, '../../../bin/fieldgate.js')
const FG_GID = 64_123
const OTHER_UID = 64_124

before(() => {
  assert.equal(process.getuid?.(), 0, 'these tests chown files and use unshare -m: run them as root (CI does)')
})

function run(dir: string, groups: string, args: string[], stdin: string): Promise<{ code: number | null; stderr: string }> {
  const groupFile = join(dir, `group-${Math.random().toString(36).slice(2)}`)
  writeFileSync(groupFile, groups)
  return new Promise((done) => {
    const p = spawn('unshare', ['-m', '--', 'sh', '-c', 'mount --bind "$0" /etc/group && exec "$@"', groupFile, process.execPath, BIN, ...args], {
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    let stderr = ''
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000)
    p.on('exit', (code) => {
      clearTimeout(t)
      done({ code, stderr })
    })
    p.stdin.end(stdin)
  })
}

const WITH_GROUP = `root:x:0:\nfieldgate:x:${FG_GID}:\n`
const WITHOUT_GROUP = 'root:x:0:\n'

async function verify(file: string, user: string, password: string): Promise<boolean> {
  const entry = parsePasswordFile(readFileSync(file, 'utf8'), file).get(user)
  assert.ok(entry, `${user} in ${file}`)
  return verifyPassword(password, entry)
}

test('a new password file is 0640 with the fieldgate group when that group exists, so the service can read it', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwd')
    const r = await run(dir, WITH_GROUP, ['passwd', file, 'alice'], 'alice-secret\n')
    assert.equal(r.code, 0, r.stderr)
    const st = statSync(file)
    assert.equal(st.mode & 0o777, 0o640)
    assert.equal(st.gid, FG_GID)
    assert.equal(st.uid, 0)
    assert.equal(await verify(file, 'alice', 'alice-secret'), true)
  } finally {
    cleanup()
  }
})

test('a new password file is 0600 when there is no fieldgate group', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwd')
    const r = await run(dir, WITHOUT_GROUP, ['passwd', file, 'alice'], 'alice-secret\n')
    assert.equal(r.code, 0, r.stderr)
    const st = statSync(file)
    assert.equal(st.mode & 0o777, 0o600)
    assert.equal(st.uid, 0)
    assert.equal(st.gid, 0)
  } finally {
    cleanup()
  }
})

test('an existing password file keeps its owner, group and mode (the documented chgrp fieldgate survives), also through a symlink', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwd')
    writeFileSync(file, '# users\n')
    chownSync(file, OTHER_UID, FG_GID)
    chmodSync(file, 0o660)
    // With a fieldgate group present: an existing file is never re-grouped or re-moded.
    let r = await run(dir, WITH_GROUP, ['passwd', file, 'alice'], 'alice-secret\n')
    assert.equal(r.code, 0, r.stderr)
    let st = statSync(file)
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [OTHER_UID, FG_GID, 0o660])
    // As installed by hardware/install.sh (root:fieldgate 0640), edited where the group name is unknown.
    chownSync(file, 0, FG_GID)
    chmodSync(file, 0o640)
    r = await run(dir, WITHOUT_GROUP, ['passwd', file, 'bob'], 'bob-secret-2\n')
    assert.equal(r.code, 0, r.stderr)
    st = statSync(file)
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, FG_GID, 0o640])
    assert.match(readFileSync(file, 'utf8'), /^# users\nalice:\$scrypt\$.*\nbob:\$scrypt\$.*\n$/)
    assert.equal(await verify(file, 'bob', 'bob-secret-2'), true)

    const link = join(dir, 'passwd-link')
    symlinkSync(file, link)
    r = await run(dir, WITH_GROUP, ['passwd', link, 'alice'], 'alice-secret-2\n')
    assert.equal(r.code, 0, r.stderr)
    assert.ok(lstatSync(link).isSymbolicLink(), 'the link stays a link')
    st = statSync(file)
    assert.deepEqual([st.uid, st.gid, st.mode & 0o7777], [0, FG_GID, 0o640])
    assert.equal(await verify(file, 'alice', 'alice-secret-2'), true)
  } finally {
    cleanup()
  }
})

test('passwd into a missing directory says so in one line and creates nothing', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const missing = join(dir, 'no', 'such')
    const r = await run(dir, WITH_GROUP, ['passwd', join(missing, 'passwd'), 'alice'], 'alice-secret\n')
    assert.equal(r.code, 1)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(r.stderr, new RegExp(`directory ${missing} does not exist`))
    assert.doesNotMatch(r.stderr, /\n\s+at /)
    mkdirSync(missing, { recursive: true })
    assert.equal((await run(dir, WITH_GROUP, ['passwd', join(missing, 'passwd'), 'alice'], 'alice-secret\n')).code, 0)
  } finally {
    cleanup()
  }
})

test('passwd refuses a password shorter than 8 characters in one line, and takes one of 8', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'passwd')
    writeFileSync(file, '# keep me\n')
    for (const short of ['x', '1234567', 'äöüßäöü']) {
      const r = await run(dir, WITHOUT_GROUP, ['passwd', file, 'alice'], `${short}\n`)
      assert.equal(r.code, 1)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, /at least 8 characters/)
      assert.equal(readFileSync(file, 'utf8'), '# keep me\n')
    }
    const r = await run(dir, WITHOUT_GROUP, ['passwd', file, 'alice'], '12345678\n')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await verify(file, 'alice', '12345678'), true)
  } finally {
    cleanup()
  }
})

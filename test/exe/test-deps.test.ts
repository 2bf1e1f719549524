import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { tempDir } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')

test('npm test runs scripts/test-deps.sh first, and .ci/run uses the same script and package list', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  assert.equal(pkg.scripts.pretest, 'bash scripts/test-deps.sh')
  assert.match(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /^\$SUDO scripts\/test-deps\.sh$/m)
  assert.doesNotMatch(readFileSync(join(ROOT, '.ci/run'), 'utf8'), /apt-get install/)
})

test('every package of the list is installed here (the tests never skip for a missing one)', async () => {
  const { stdout } = await run('bash', [join(ROOT, 'scripts/test-deps.sh')], { timeout: 30_000 })
  assert.equal(stdout, '')
})

test('as a user who cannot install, a missing package stops it with the exact apt-get line', { timeout: 30_000 }, async () => {
  assert.equal(process.getuid?.(), 0, 'this test creates a user: run it as root (CI does)')
  const user = `fgdeps${process.pid % 100000}`
  const { dir, cleanup } = tempDir()
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user])
  try {
    chmodSync(dir, 0o755)
    mkdirSync(join(dir, 'scripts'))
    mkdirSync(join(dir, '.ci'))
    copyFileSync(join(ROOT, 'scripts/test-deps.sh'), join(dir, 'scripts/test-deps.sh'))
    writeFileSync(join(dir, '.ci/debian-packages'), '# comment\nsocat\nfieldgate-no-such-package\n')
    const uid = Number(execFileSync('id', ['-u', user]).toString())
    const gid = Number(execFileSync('id', ['-g', user]).toString())
    const err = await run('bash', [join(dir, 'scripts/test-deps.sh')], { uid, gid, timeout: 20_000 }).then(
      () => assert.fail('it passed with a package missing'),
      (e: { code?: number; stderr?: string }) => e,
    )
    assert.equal(err.code, 1)
    assert.match(err.stderr ?? '', /^ {2}sudo apt-get update && sudo apt-get install -y --no-install-recommends fieldgate-no-such-package$/m)
  } finally {
    execFileSync('userdel', [user])
    cleanup()
  }
})

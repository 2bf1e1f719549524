import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { parsePublicKey } from '../../src/update/keys.ts'
import { parseManifest } from '../../src/update/manifest.ts'
import { checkManifest } from '../../src/update/verify.ts'
import { tempDir } from '../helpers/tmp.ts'
import { fakeElf, sha } from './helpers.ts'

const run = promisify(execFile)
const CLI = resolve(import.meta.dirname, '../../src/cli.ts')
const fg = (args: string[], cwd: string) =>
  run(process.execPath, ['--import', import.meta.resolve('tsx'), CLI, ...args], { cwd, timeout: 30_000 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  )

test('keygen makes a 0600 private key and a .pub line; sign writes a manifest a gateway trusting that line accepts', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const k = await fg(['keygen', 'release'], dir)
    assert.equal(k.code, 0, k.stderr)
    assert.equal(statSync(join(dir, 'release')).mode & 0o777, 0o600)
    const pub = parsePublicKey(readFileSync(join(dir, 'release.pub'), 'utf8'))
    assert.ok(pub)
    assert.match(k.stdout, new RegExp(`public_keys = \\["${readFileSync(join(dir, 'release.pub'), 'utf8').trim().replace(/[+/]/g, '\\$&')}"\\]`))
    const again = await fg(['keygen', 'release'], dir)
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^fieldgate keygen: .*release already exists; choose another name .*\n$/)

    const exe = join(dir, 'fieldgate')
    const bytes = fakeElf('arm64', Buffer.alloc(700_000, 4))
    writeFileSync(exe, bytes)
    const s = await fg(['sign', 'fieldgate', '--key', 'release', '--version', '0.2.0'], dir)
    assert.equal(s.code, 0, s.stderr)
    const m = parseManifest(readFileSync(`${exe}.manifest.json`, 'utf8'))
    assert.equal(m.arch, 'arm64')
    assert.equal(m.size, bytes.length)
    assert.equal(m.sha256, sha(bytes))
    assert.equal(m.chunks.length, 3)
    checkManifest(m, { keys: [pub], runningVersion: '0.1.0', arch: 'arm64', maxBytes: 1e9 })

    // A downgrade names the newest version it may replace, and says so.
    const d = await fg(['sign', 'fieldgate', '--key', 'release', '--version', '0.2.0', '--downgrade-from', '0.3.0', '--out', 'back.json'], dir)
    assert.equal(d.code, 0, d.stderr)
    assert.match(d.stdout, /may replace versions up to 0\.3\.0\n$/)
    const back = parseManifest(readFileSync(join(dir, 'back.json'), 'utf8'))
    checkManifest(back, { keys: [pub], runningVersion: '0.3.0', arch: 'arm64', maxBytes: 1e9 })
    assert.throws(() => checkManifest(back, { keys: [pub], runningVersion: '0.4.0', arch: 'arm64', maxBytes: 1e9 }), /may replace versions up to 0\.3\.0/)
  } finally {
    cleanup()
  }
})

test('sign refuses with one line: no key, not a private key, not an executable, a bad version', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    await fg(['keygen', 'k'], dir)
    writeFileSync(join(dir, 'script.sh'), '#!/bin/sh\nexit 1\n')
    writeFileSync(join(dir, 'exe'), fakeElf('x64', Buffer.alloc(100)))
    copyFileSync(join(dir, 'k.pub'), join(dir, 'pubcopy'))
    const cases: Array<[string[], RegExp]> = [
      [['sign', 'exe', '--version', '1.0.0'], /usage: fieldgate sign FILE --key PRIVATE --version VERSION/],
      [['sign', 'exe', '--key', 'nope', '--version', '1.0.0'], /cannot read the key nope: ENOENT/],
      [['sign', 'exe', '--key', 'pubcopy', '--version', '1.0.0'], /pubcopy is not an Ed25519 private key; make one with fieldgate keygen FILE/],
      [['sign', 'script.sh', '--key', 'k', '--version', '1.0.0'], /script.sh is not a Linux executable for x64, arm64 or armv7/],
      [['sign', 'exe', '--key', 'k', '--version', 'v1'], /--version v1 is not a semantic version/],
      [['sign', 'exe', '--key', 'k', '--version', '1.0.0', '--allow-downgrade'], /--allow-downgrade is now --downgrade-from NEWEST/],
      [['sign', 'exe', '--key', 'k', '--version', '1.0.0', '--downgrade-from', 'latest'], /--downgrade-from latest is not a semantic version/],
    ]
    for (const [args, re] of cases) {
      const r = await fg(args, dir)
      assert.notEqual(r.code, 0, args.join(' '))
      assert.match(r.stderr, re)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    }
  } finally {
    cleanup()
  }
})

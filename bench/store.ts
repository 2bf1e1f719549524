/**
 * Store-and-forward benchmark: raw classic-level limits on this disk next to Fieldgate's queue.
 * Run: node --import tsx bench/store.ts   (bounded: about a minute; set BENCH_RSS_COUNT to shrink the RSS phase)
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { ClassicLevel } from 'classic-level'
import { silentLogger, type Message } from '../src/core/index.ts'
import { encodeEntry, encodeEntryJson } from '../src/store-forward/codec.ts'
import { openStore, readProcIo, type SequencedQueue } from '../src/store-forward/index.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const VALUE = Buffer.alloc(64, 7)
const rows: Array<[string, string]> = []
const report = (name: string, value: string): void => {
  rows.push([name, value])
  console.log(`${name.padEnd(58)} ${value}`)
}
const rate = (n: number, ms: number): number => Math.round((n * 1000) / ms)
const fmt = (n: number): string => n.toLocaleString('en-US')

function key(i: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64BE(BigInt(i))
  return b
}

function tmp(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-'))
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) }
}

async function raw(): Promise<{ batch: number }> {
  const { dir, done } = tmp()
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  let t = performance.now()
  const singles = 2000
  for (let i = 0; i < singles; i++) await db.put(key(i), VALUE, { sync: true })
  report('raw: single put, sync (msg/s)', fmt(rate(singles, performance.now() - t)))
  t = performance.now()
  const batches = 300
  for (let b = 0; b < batches; b++) await db.batch(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: key(10_000 + b * 100 + i), value: VALUE })), { sync: true })
  const batch = rate(batches * 100, performance.now() - t)
  report('raw: batch of 100, sync (msg/s)', fmt(batch))
  await db.clear()

  const fill = async (): Promise<void> => {
    for (let b = 0; b < 100; b++) await db.batch(Array.from({ length: 1000 }, (_, i) => ({ type: 'put' as const, key: key(b * 1000 + i), value: VALUE })))
  }
  await fill()
  t = performance.now()
  let last: Buffer | null = null
  for (let guard = 0; guard < 2000; guard++) {
    const rowsRead: Array<[Buffer, Buffer]> = await db.iterator(last ? { gt: last, limit: 100 } : { limit: 100 }).all()
    if (rowsRead.length === 0) break
    last = (rowsRead.at(-1) as [Buffer, Buffer])[0]
    await db.batch(rowsRead.map(([k]) => ({ type: 'del' as const, key: k })))
  }
  const kept = rate(100_000, performance.now() - t)
  report('raw: drain 100k by 100, kept position (msg/s)', fmt(kept))
  await fill()
  t = performance.now()
  for (let guard = 0; guard < 2000; guard++) {
    const rowsRead = await db.iterator({ limit: 100 }).all()
    if (rowsRead.length === 0) break
    await db.batch(rowsRead.map(([k]) => ({ type: 'del' as const, key: k })))
  }
  const reseek = rate(100_000, performance.now() - t)
  report('raw: drain 100k by 100, re-seek from start (msg/s)', `${fmt(reseek)}  (kept/re-seek ${(kept / reseek).toFixed(1)}x)`)
  await db.close()
  done()
  return { batch }
}

const msg = (i: number, qos: 0 | 1 = 1): Message => ({ topic: `plant/line1/sensor${i % 50}`, payload: VALUE, qos, retain: false })

async function strictAppenders(rawBatch: number, window: number): Promise<void> {
  const { dir, done } = tmp()
  const store = await openStore({ dataDir: dir, maxBytes: 2e9, maxAge: 0, policy: 'drop-oldest', groupCommitWindow: window, maxBatch: 1000, writeBufferSize: 4 << 20, cacheSize: 8 << 20 }, silentLogger)
  const q = await store.openQueue('bench')
  // 10 publishers, each one append at a time (a QoS 1 client with one message in flight).
  const t = performance.now()
  const strictN = 5000
  await Promise.all(Array.from({ length: 10 }, async (_, a) => {
    for (let i = 0; i < strictN / 10; i++) await q.append([msg(a * 1000 + i)])
  }))
  const strict = rate(strictN, performance.now() - t)
  report(`queue: durable append, 10 appenders x 1 in flight, window ${window} ms`, `${fmt(strict)} msg/s  (${((strict / rawBatch) * 100).toFixed(0)}% of raw batch)`)
  await store.close()
  done()
}

async function queue(rawBatch: number): Promise<void> {
  await strictAppenders(rawBatch, 2)
  await strictAppenders(rawBatch, 0)
  const { dir, done } = tmp()
  const store = await openStore({ dataDir: dir, maxBytes: 2e9, maxAge: 0, policy: 'drop-oldest', groupCommitWindow: 2, maxBatch: 1000, writeBufferSize: 4 << 20, cacheSize: 8 << 20 }, silentLogger)
  const q = await store.openQueue('bench')
  let t = performance.now()

  // 10 publishers, each with up to 32 appends in flight (MQTT receive-maximum style pipelining).
  const io0 = readProcIo()
  const b0 = (q as unknown as { batches: number }).batches
  t = performance.now()
  const n = 60_000
  await Promise.all(Array.from({ length: 10 }, async (_, a) => {
    const inflight = new Set<Promise<void>>()
    for (let i = 0; i < n / 10; i++) {
      const p: Promise<void> = q.append([msg(a * 100_000 + i)]).then(() => void inflight.delete(p))
      inflight.add(p)
      if (inflight.size >= 32) await Promise.race(inflight)
    }
    await Promise.all(inflight)
  }))
  const piped = rate(n, performance.now() - t)
  const io1 = readProcIo()
  const batches = (q as unknown as { batches: number }).batches - b0
  report('queue: durable append, 10 appenders x 32 in flight (msg/s)', `${fmt(piped)}  (${((piped / rawBatch) * 100).toFixed(0)}% of raw batch; target >= 50%)`)
  report('queue: messages per fsync batch', (n / batches).toFixed(1))
  if (io0 && io1) {
    report('queue: disk write_bytes per message (/proc/self/io)', `${((io1.writeBytes - io0.writeBytes) / n).toFixed(0)} B`)
    report('queue: write() bytes per message (wchar)', `${((io1.wchar - io0.wchar) / n).toFixed(0)} B`)
  }
  report('queue: encoded entry, binary vs JSON+base64', `${encodeEntry(msg(1), Date.now()).length} B vs ${encodeEntryJson(msg(1), Date.now()).length} B`)

  // Drain: peek a window, ack without waiting (as the forwarder does), flush at the end.
  const depth = q.stats().depth
  t = performance.now()
  let drained = 0
  for (let guard = 0; guard < 10_000; guard++) {
    const got = await q.peek(100)
    if (got.length === 0) break
    drained += got.length
    void q.ack(got.map((e) => e.seq))
  }
  await q.flush()
  report('queue: drain by 100 with acks (msg/s)', `${fmt(rate(drained, performance.now() - t))}  (${fmt(drained)} of ${fmt(depth)}; left ${q.stats().depth})`)
  await store.close()
  done()
}

function rssMb(): number {
  gc()
  gc()
  const m = process.memoryUsage()
  if (process.env.BENCH_VERBOSE) console.log(`  heapUsed ${(m.heapUsed / 1e6).toFixed(1)} MB, external ${(m.external / 1e6).toFixed(1)} MB, arrayBuffers ${(m.arrayBuffers / 1e6).toFixed(1)} MB`)
  return m.rss / 1e6
}

async function fillTo(q: SequencedQueue, count: number): Promise<void> {
  for (let b = 0; b < count / 1000; b++) await q.append(Array.from({ length: 1000 }, (_, i) => msg(b * 1000 + i, 0)))
}

async function rss(count: number): Promise<void> {
  const { dir, done } = tmp()
  const cfg = { dataDir: dir, maxBytes: 2e9, maxAge: 0, policy: 'drop-oldest' as const, groupCommitWindow: 2, maxBatch: 1000, writeBufferSize: 4 << 20, cacheSize: 8 << 20 }
  let store = await openStore(cfg, silentLogger)
  let q = await store.openQueue('rss')
  // Baseline: an empty queue that has already carried 100k messages, so LevelDB's fixed buffers are warm.
  await fillTo(q, 100_000)
  for (let guard = 0; guard < 2000; guard++) {
    const got = await q.peek(1000)
    if (got.length === 0) break
    void q.ack(got.map((e) => e.seq))
  }
  await q.flush()
  const empty = rssMb()
  const t = performance.now()
  await fillTo(q, count)
  const full = rssMb()
  report(`rss: empty (after 100k through) vs ${fmt(count)} queued`, `${empty.toFixed(1)} MB vs ${full.toFixed(1)} MB (+${(full - empty).toFixed(1)} MB; filled in ${((performance.now() - t) / 1000).toFixed(1)} s)`)
  await store.close()
  store = await openStore(cfg, silentLogger)
  const t2 = performance.now()
  q = await store.openQueue('rss')
  const openMs = performance.now() - t2
  await q.peek(100)
  report(`rss: after reopening the ${fmt(count)}-entry queue`, `${rssMb().toFixed(1)} MB, depth ${fmt(q.stats().depth)}, opened in ${openMs.toFixed(0)} ms`)
  await store.close()
  done()
}

async function main(): Promise<void> {
  const count = Number(process.env.BENCH_RSS_COUNT ?? 1_000_000)
  if (process.argv[2] === 'rss') return rss(count)
  const started = performance.now()
  const { batch } = await raw()
  await queue(batch)
  // RSS in a fresh process, so the phases above do not blur the baseline.
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'rss'], { stdio: 'inherit', env: process.env })
  await new Promise<void>((resolve) => child.once('exit', () => resolve()))
  report('total bench time', `${((performance.now() - started) / 1000).toFixed(1)} s`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})

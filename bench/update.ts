/**
 * Memory and time of a 40 MB update through UpdateReceiver (src/update/receiver.ts): the executable is
 * written to disk in chunks (never held whole), signed, then fed to the receiver one chunk at a time as
 * a management channel would, in shuffled order with 5% duplicates, then read back and verified.
 * Prints the process's peak RSS, heap and Buffer memory over the transfer against its baseline.
 *
 *   node --expose-gc --import tsx bench/update.ts [--mb 40] [--chunk-kib 256]
 */
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync, randomFillSync } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { hashFile } from '../src/update/hash-file.ts'
import { encodePublicKey, parsePublicKey } from '../src/update/keys.ts'
import { manifestToJson, signManifest } from '../src/update/manifest.ts'
import { UpdateReceiver } from '../src/update/receiver.ts'
import { tempDir } from '../test/helpers/tmp.ts'

// The "held after a full GC" figure needs gc(): run again with it when started without (npm run bench).
if (!global.gc) {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const { values } = parseArgs({ options: { mb: { type: 'string', default: '40' }, 'chunk-kib': { type: 'string', default: '256' } } })
const size = Number(values.mb) * 1_000_000
const chunkSize = Number(values['chunk-kib']) * 1024
const { dir, cleanup } = tempDir('fieldgate-bench-update-')
const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`

async function main(): Promise<void> {
  // The "executable": an x64 ELF header, then random bytes, written piecewise.
  const file = join(dir, 'fieldgate-new')
  const fd = openSync(file, 'w')
  const piece = Buffer.alloc(chunkSize)
  for (let off = 0; off < size; off += chunkSize) {
    const n = Math.min(chunkSize, size - off)
    randomFillSync(piece, 0, n)
    if (off === 0) {
      piece.writeUInt32BE(0x7f454c46, 0)
      piece[4] = 2
      piece[5] = 1
      piece.writeUInt16LE(62, 18)
    }
    writeSync(fd, piece, 0, n, off)
  }
  closeSync(fd)
  const { privateKey } = generateKeyPairSync('ed25519')
  const trusted = parsePublicKey(encodePublicKey(privateKey))
  if (!trusted) throw new Error('key')
  const h = await hashFile(file, chunkSize)
  const manifest = signManifest({ version: '9.0.0', arch: 'x64', size: h.size, sha256: h.sha256, chunkSize, chunks: h.chunks, downgrade: false, downgradeFrom: null }, privateKey)

  global.gc?.()
  const base = process.memoryUsage()
  const peak = { rss: base.rss, heapUsed: base.heapUsed, external: base.external, arrayBuffers: base.arrayBuffers }
  /** After a full GC every 16 chunks: what the receiver holds on to, not garbage waiting for a collection. */
  let retained = 0
  const sampleRetained = async (): Promise<void> => {
    if (!global.gc) return
    // Backing stores are freed by a concurrent sweeper: collect twice around a turn of the loop.
    global.gc()
    await new Promise((r) => setImmediate(r))
    global.gc()
    retained = Math.max(retained, process.memoryUsage().arrayBuffers - base.arrayBuffers)
  }
  const sample = (): void => {
    const m = process.memoryUsage()
    peak.rss = Math.max(peak.rss, m.rss)
    peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed)
    peak.external = Math.max(peak.external, m.external)
    peak.arrayBuffers = Math.max(peak.arrayBuffers, m.arrayBuffers)
  }
  const started = performance.now()
  const r = await UpdateReceiver.open(join(dir, 'data', 'update'), { keys: [trusted], runningVersion: '0.1.0', arch: 'x64', maxBytes: 1e9 }, { spareBytes: 0 })
  await r.announce(manifestToJson(manifest))
  const order = Array.from({ length: h.chunks.length }, (_, i) => i)
  // A fixed shuffle (LCG) so runs compare; every 20th chunk is sent twice.
  let seed = 42
  for (let i = order.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31
    const j = seed % (i + 1)
    ;[order[i], order[j]] = [order[j] as number, order[i] as number]
  }
  const src = openSync(file, 'r')
  let sent = 0
  let dups = 0
  for (const [k, i] of order.entries()) {
    const times = k % 20 === 0 ? 2 : 1
    for (let t = 0; t < times; t++) {
      // A fresh Buffer per message, as an MQTT client hands each payload over.
      const off = i * chunkSize
      const buf = Buffer.allocUnsafe(Math.min(chunkSize, size - off))
      readSync(src, buf, 0, buf.length, off)
      const res = await r.chunk(off, buf)
      if (res.kind === 'duplicate') dups++
      if (res.kind === 'refused') throw new Error(res.reason)
      sent += buf.length
      sample()
    }
    if (k % 16 === 15) await sampleRetained()
  }
  closeSync(src)
  const received = performance.now()
  await r.finish()
  sample()
  const done = performance.now()
  await r.close()
  process.stdout.write(
    [
      `update receiver: ${mb(size)} in ${h.chunks.length} chunks of ${chunkSize / 1024} KiB, shuffled, ${dups} duplicates (${mb(sent)} sent)`,
      `  receive (check, write, fdatasync, record): ${((received - started) / 1000).toFixed(2)} s (${(size / 1e6 / ((received - started) / 1000)).toFixed(1)} MB/s); read-back and verify: ${((done - received) / 1000).toFixed(2)} s`,
      `  memory peak - baseline: RSS +${mb(peak.rss - base.rss)}, heap used +${mb(peak.heapUsed - base.heapUsed)}, external +${mb(peak.external - base.external)}, array buffers +${mb(peak.arrayBuffers - base.arrayBuffers)}`,
      global.gc ? `  array buffers still held after a full GC (every 16 chunks), peak: +${mb(retained)}` : '  (run with node --expose-gc to see what is held after a full GC)',
      `  baseline: RSS ${mb(base.rss)}, heap used ${mb(base.heapUsed)}`,
    ].join('\n') + '\n',
  )
}

main().then(cleanup, (err: unknown) => {
  cleanup()
  process.stderr.write(`bench/update: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})

// Feeds a file to UpdateReceiver chunk by chunk in its own process; SIGKILLs itself after `stopAfter`
// chunks (-1: never), so a test can check what a crash mid-download leaves.
import { readFileSync } from 'node:fs'
import { parsePublicKey } from '../../src/update/keys.ts'
import { parseManifest } from '../../src/update/manifest.ts'
import { UpdateReceiver } from '../../src/update/receiver.ts'

const [dir, file, manifestFile, pub, stopAfter] = process.argv.slice(2) as [string, string, string, string, string]
const key = parsePublicKey(pub)
if (!key) throw new Error('bad key')
const text = readFileSync(manifestFile, 'utf8')
const m = parseManifest(text)
const r = await UpdateReceiver.open(dir, { keys: [key], runningVersion: '0.1.0', arch: 'x64', maxBytes: 1e9 })
const a = await r.announce(text)
const bytes = readFileSync(file)
let n = 0
for (const range of a.missing) {
  for (let off = range.offset; off < range.offset + range.length; off += m.chunkSize) {
    if (n === Number(stopAfter)) process.kill(process.pid, 'SIGKILL')
    await r.chunk(off, bytes.subarray(off, off + m.chunkSize))
    n++
  }
}
const v = await r.finish()
process.stdout.write(JSON.stringify({ resumed: a.resumed, sent: n, file: v.file }) + '\n')

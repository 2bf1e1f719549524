import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { isFieldgateError, silentLogger, type Message } from '../../src/core/index.ts'
import { FORMAT, FORMAT_KEY, decodeFormat, encodeFormat } from '../../src/store-forward/format.ts'
import { openStore } from '../../src/store-forward/index.ts'
import { freePort } from '../helpers/ports.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'

const msg = (i: number): Message => ({ topic: `data/${i}`, payload: Buffer.from(`m${i}`), qos: 1, retain: false })

/** A data dir holding three queued messages, with its format record set by `record` (null: none). */
async function dataDir(dir: string, record: Buffer | null): Promise<void> {
  const store = await openStore(storeOptionsFor(dir), silentLogger, { version: '0.1.0' })
  const q = await store.openQueue('cloud')
  await q.append([msg(1), msg(2), msg(3)])
  await store.close()
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  if (record === null) await db.del(FORMAT_KEY)
  else await db.put(FORMAT_KEY, record)
  await db.close()
}

async function rawRecord(dir: string): Promise<ReturnType<typeof decodeFormat> | undefined> {
  const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  try {
    const v = await db.get(FORMAT_KEY)
    return v === undefined ? undefined : decodeFormat(v)
  } finally {
    await db.close()
  }
}

async function queued(dir: string): Promise<string[]> {
  const store = await openStore(storeOptionsFor(dir), silentLogger, { version: '0.2.0' })
  try {
    const q = await store.openQueue('cloud')
    return (await q.peek(10)).map((e) => e.message.topic)
  } finally {
    await store.close()
  }
}

test('upgrade: a data dir from before formats were recorded opens with its queue intact and gets the format record', async () => {
  const { dir, cleanup } = tempDir()
  try {
    await dataDir(dir, null)
    assert.equal(await rawRecord(dir), undefined)
    assert.deepEqual(await queued(dir), ['data/1', 'data/2', 'data/3'])
    assert.deepEqual(await rawRecord(dir), { format: FORMAT, oldestReader: 1, writtenBy: '0.2.0' })
  } finally {
    cleanup()
  }
})

test('rollback: data a newer version wrote in a format this one can still read opens, and its record stays', async () => {
  const { dir, cleanup } = tempDir()
  try {
    await dataDir(dir, encodeFormat({ format: FORMAT + 1, oldestReader: FORMAT, writtenBy: '0.9.0' }))
    assert.deepEqual(await queued(dir), ['data/1', 'data/2', 'data/3'])
    assert.deepEqual(await rawRecord(dir), { format: FORMAT + 1, oldestReader: FORMAT, writtenBy: '0.9.0' })
  } finally {
    cleanup()
  }
})

test('rollback: data in a format this version cannot read is refused with one line and left untouched', async () => {
  const { dir, cleanup } = tempDir()
  try {
    const record = { format: FORMAT + 1, oldestReader: FORMAT + 1, writtenBy: '0.9.0' }
    await dataDir(dir, encodeFormat(record))
    await assert.rejects(openStore(storeOptionsFor(dir), silentLogger, { version: '0.1.0' }), (err: unknown) => {
      assert.ok(isFieldgateError(err, 'STORE_FORMAT'))
      assert.equal(err.message, `${resolve(dir)} holds data format 2 (written by fieldgate 0.9.0), which fieldgate 0.1.0 (format 1) cannot read. Run fieldgate 0.9.0 or newer, or move the directory away to start empty`)
      return true
    })
    assert.deepEqual(await rawRecord(dir), record)
    // Nothing was read or dropped: a version that reads it finds the queue as it was.
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await db.open()
    await db.put(FORMAT_KEY, encodeFormat({ ...record, oldestReader: FORMAT }))
    await db.close()
    assert.deepEqual(await queued(dir), ['data/1', 'data/2', 'data/3'])
  } finally {
    cleanup()
  }
})

test('the gateway refuses to start on such a data dir: one line naming storage.data_dir, exit 1', { timeout: 30_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const data = join(dir, 'data')
    await dataDir(data, encodeFormat({ format: 7, oldestReader: 7, writtenBy: '3.0.0' }))
    const cfg = join(dir, 'gw.toml')
    writeFileSync(cfg, `[storage]\ndata_dir = "${data}"\n[status]\nenabled = false\n[[broker.listeners]]\nhost = "127.0.0.1"\nport = ${await freePort()}\n`)
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FIELDGATE_')))
    const p = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(import.meta.dirname, '../../src/cli.ts'), 'run', '--config', cfg], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    p.stderr.on('data', (d: Buffer) => (err += d.toString()))
    const t = setTimeout(() => p.kill('SIGKILL'), 25_000)
    const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)))
    clearTimeout(t)
    assert.equal(code, 1)
    assert.match(err, /^fieldgate: cannot start: storage\.data_dir: .* holds data format 7 \(written by fieldgate 3\.0\.0\), which fieldgate \S+ \(format 1\) cannot read\. Run fieldgate 3\.0\.0 or newer, or move the directory away to start empty\n$/)
  } finally {
    cleanup()
  }
})

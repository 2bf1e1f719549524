// Child process for crash.test.ts: appends forever from 10 concurrent appenders and prints
// "ack <appender> <i>" once each append has resolved (i.e. is durable). The parent kills it with -9.
import { silentLogger } from '../../src/core/index.ts'
import { openStore } from '../../src/store-forward/index.ts'
import { storeOptionsFor } from './helpers.ts'

async function main(): Promise<void> {
  const dir = process.argv[2]
  if (!dir) throw new Error('usage: crash-child.ts <data_dir>')
  const store = await openStore(storeOptionsFor(dir, { groupCommitWindow: 2 }), silentLogger)
  const q = await store.openQueue('up')
  process.stdout.write('ready\n')
  const appender = async (a: number): Promise<void> => {
    for (let i = 0; i < 1_000_000; i++) {
      await q.append([{ topic: `crash/${a}`, payload: Buffer.from(String(i)), qos: 1, retain: false }])
      process.stdout.write(`ack ${a} ${i}\n`)
    }
  }
  await Promise.all(Array.from({ length: 10 }, (_, a) => appender(a)))
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`)
  process.exit(1)
})

import { silentLogger, type Clock } from '../../src/core/index.ts'
import { openStore, type GatewayStore, type StoreOptions } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import type { QueueFactory } from './queue-conformance.ts'

/** A store in `dir` with the config's defaults, except no age limit. */
export function storeOptionsFor(dir: string, over: Partial<StoreOptions> = {}): StoreOptions {
  return { dataDir: dir, maxBytes: 512_000_000, maxAge: 0, policy: 'drop-oldest', groupCommitWindow: 0, maxBatch: 1000, writeBufferSize: 4 * 1024 * 1024, cacheSize: 8 * 1024 * 1024, ...over }
}

/** Real LevelDB queues in a fresh temp directory, reopenable. */
export const levelQueueFactory: QueueFactory = async (o) => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const cfg = storeOptionsFor(dir, {
    ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
    ...(o.maxAge !== undefined ? { maxAge: o.maxAge } : {}),
    ...(o.policy !== undefined ? { policy: o.policy } : {}),
  })
  const opts: { clock?: Clock } = o.clock ? { clock: o.clock } : {}
  let store: GatewayStore = await openStore(cfg, silentLogger, opts)
  return {
    queue: await store.openQueue('up'),
    async reopen() {
      await store.close()
      store = await openStore(cfg, silentLogger, opts)
      return store.openQueue('up')
    },
    async cleanup() {
      await store.close().catch(() => undefined)
      cleanup()
    },
  }
}

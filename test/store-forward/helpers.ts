import type { StorageConfig } from '../../src/config/sections/storage.ts'
import { silentLogger, type Clock } from '../../src/core/index.ts'
import { openStore, type GatewayStore } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import type { QueueFactory } from './queue-conformance.ts'

export function storageConfig(dir: string, over: Partial<StorageConfig> = {}): StorageConfig {
  return { data_dir: dir, max_bytes: 512_000_000, max_age: 0, policy: 'drop-oldest', group_commit_window: 0, max_batch: 1000, write_buffer_size: 4 * 1024 * 1024, cache_size: 8 * 1024 * 1024, ...over }
}

/** Real LevelDB queues in a fresh temp directory, reopenable. */
export const levelQueueFactory: QueueFactory = async (o) => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const cfg = storageConfig(dir, {
    ...(o.maxBytes !== undefined ? { max_bytes: o.maxBytes } : {}),
    ...(o.maxAge !== undefined ? { max_age: o.maxAge } : {}),
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

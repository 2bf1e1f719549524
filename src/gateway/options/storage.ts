import type { StorageConfig } from '../../config/index.ts'
import type { StoreOptions } from '../../store-forward/index.ts'

/** `[storage]` as the store takes it. */
export function storeOptions(c: StorageConfig): StoreOptions {
  return {
    dataDir: c.data_dir,
    maxBytes: c.max_bytes,
    maxAge: c.max_age,
    policy: c.policy,
    groupCommitWindow: c.group_commit_window,
    maxBatch: c.max_batch,
    writeBufferSize: c.write_buffer_size,
    cacheSize: c.cache_size,
  }
}

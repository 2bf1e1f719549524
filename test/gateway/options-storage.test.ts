import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateConfig } from '../../src/config/index.ts'
import { storeOptions } from '../../src/gateway/options/storage.ts'

test('every [storage] key reaches the store under its option name, sizes and durations already in bytes and ms', () => {
  const c = validateConfig({
    storage: {
      data_dir: '/var/lib/fg/data',
      max_bytes: '64MB',
      max_age: '2d',
      policy: 'reject-new',
      group_commit_window: '3ms',
      max_batch: 250,
      write_buffer_size: '1MiB',
      cache_size: '2MiB',
    },
  })
  assert.deepEqual(storeOptions(c.storage), {
    dataDir: '/var/lib/fg/data',
    maxBytes: 64_000_000,
    maxAge: 2 * 86_400_000,
    policy: 'reject-new',
    groupCommitWindow: 3,
    maxBatch: 250,
    writeBufferSize: 1024 * 1024,
    cacheSize: 2 * 1024 * 1024,
  })
})

test('an empty [storage] gives the store the documented defaults', () => {
  assert.deepEqual(storeOptions(validateConfig({}).storage), {
    dataDir: './data',
    maxBytes: 512_000_000,
    maxAge: 7 * 86_400_000,
    policy: 'drop-oldest',
    groupCommitWindow: 0,
    maxBatch: 1000,
    writeBufferSize: 4 * 1024 * 1024,
    cacheSize: 8 * 1024 * 1024,
  })
})

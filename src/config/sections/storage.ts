import * as z from 'zod'
import { byteSize, duration } from './common.ts'

export const storageSchema = z
  .object({
    data_dir: z.string().default('./data'),
    max_bytes: byteSize.default(512_000_000),
    max_age: duration.default(7 * 86_400_000),
    policy: z.enum(['drop-oldest', 'reject-new']).default('drop-oldest'),
    /**
     * Longest an append waits to share an fsync with others. 0 (default) flushes on the next tick:
     * appends arriving while an fsync runs still share the next one (bench/store.ts: 10 one-at-a-time
     * publishers reach ~55k msg/s with 0 and ~2k msg/s with 2 ms, since each waits out the timer).
     */
    group_commit_window: duration.default(0),
    max_batch: z.number().int().positive().default(1000),
    /**
     * LevelDB memtable size (up to two are held in memory). Smaller saves RSS, larger means fewer
     * compactions (less SD wear). bench/store.ts: 1 MB with cache_size 2 MB cut native growth ~22 → ~12 MB.
     */
    write_buffer_size: byteSize.default(4 * 1024 * 1024),
    /** LevelDB block cache. */
    cache_size: byteSize.default(8 * 1024 * 1024),
  })
  .strict()

export type StorageConfig = z.infer<typeof storageSchema>

import { systemClock } from '../../src/core/index.ts'
import { MemoryQueue } from '../../src/store-forward/index.ts'
import { queueConformance } from './queue-conformance.ts'

queueConformance('MemoryQueue', async (o) => {
  const queue = new MemoryQueue('up', { maxBytes: o.maxBytes ?? 512_000_000, maxAge: o.maxAge ?? 0, policy: o.policy ?? 'drop-oldest', clock: o.clock ?? systemClock })
  return { queue, cleanup: () => queue.close() }
}, { reopen: false })

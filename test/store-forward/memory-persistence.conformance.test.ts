import { MemoryRetainedStore, MemorySessionStore } from '../../src/broker/persistence/memory.ts'
import { persistenceConformance } from './persistence-conformance.ts'

// The broker's in-memory stores must behave like the LevelDB ones (minus surviving a restart).
persistenceConformance('broker memory sessions/retained', async () => {
  const sessions = new MemorySessionStore()
  const retained = new MemoryRetainedStore()
  return { sessions, retained, cleanup: async () => undefined }
}, { reopen: false })

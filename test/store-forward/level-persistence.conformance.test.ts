import { silentLogger } from '../../src/core/index.ts'
import { openStore, type GatewayStore } from '../../src/store-forward/index.ts'
import { tempDir } from '../helpers/tmp.ts'
import { storeOptionsFor } from './helpers.ts'
import { persistenceConformance } from './persistence-conformance.ts'

persistenceConformance('LevelDB sessions/retained', async () => {
  const { dir, cleanup } = tempDir('fieldgate-sf-')
  const cfg = storeOptionsFor(dir)
  let store: GatewayStore = await openStore(cfg, silentLogger)
  return {
    sessions: store.sessions,
    retained: store.retained,
    async reopen() {
      await store.close()
      store = await openStore(cfg, silentLogger)
      return { sessions: store.sessions, retained: store.retained }
    },
    async cleanup() {
      await store.close().catch(() => undefined)
      cleanup()
    },
  }
}, { reopen: true })

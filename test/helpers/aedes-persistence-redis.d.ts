// aedes-persistence-redis ships no types; the cluster node (aedes-node.ts) only creates one and hands it to Aedes.
declare module 'aedes-persistence-redis' {
  import type { RedisOptions } from 'ioredis'

  interface AedesPersistenceRedis {
    /** Closes both Redis connections. */
    destroy(cb?: () => void): void
  }
  function persistence(opts?: RedisOptions & { maxSessionDelivery?: number; packetTTL?: () => number }): AedesPersistenceRedis
  export = persistence
}

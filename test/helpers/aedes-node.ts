/**
 * One node of a clustered cloud broker, as users run Aedes in production: its own process, routing
 * through Redis (mqemitter-redis) and sessions, retained messages and wills in Redis
 * (aedes-persistence-redis). Started by cluster.ts: `node --import tsx aedes-node.ts`, settings from the
 * environment: CLUSTER_PORT, CLUSTER_REDIS_PORT, CLUSTER_HEARTBEAT_MS, CLUSTER_USERS (JSON user → password).
 * Prints `READY <port> <broker id>` once it listens.
 */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'
import persistence from 'aedes-persistence-redis'
import mqemitterRedis from 'mqemitter-redis'

function setting(name: string): number {
  const n = Number(process.env[name])
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`aedes-node: ${name} must be a positive integer (got ${JSON.stringify(process.env[name])})\n`)
    process.exit(2)
  }
  return n
}

const port = setting('CLUSTER_PORT')
const redis = { host: '127.0.0.1', port: setting('CLUSTER_REDIS_PORT') }
const users = JSON.parse(process.env.CLUSTER_USERS ?? '{}') as Record<string, string>

const aedes = await Aedes.createBroker({
  mq: mqemitterRedis(redis),
  persistence: persistence(redis),
  // Aedes's default is 60 s. The others publish a dead node's clients' wills once its last heartbeat is
  // 3 intervals old, at their next sweep (every 4 intervals): scaled down here so a test sees it happen.
  heartbeatInterval: setting('CLUSTER_HEARTBEAT_MS'),
  authenticate(_client, username, password, done) {
    const ok = username !== undefined && users[username] !== undefined && password?.toString() === users[username]
    done(null, ok)
  },
})
aedes.on('connectionError', (_client, err) => process.stderr.write(`aedes-node: connection error: ${err.message}\n`))

const server = createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${port} ${aedes.id}\n`))

const stop = (): void => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

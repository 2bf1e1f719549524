/**
 * Fieldgate's broker in its own process: `node --import tsx bench/lib/fieldgate-server.ts <port>`.
 * One loopback listener, logging silent. Exits cleanly on SIGTERM so `--cpu-prof` can write its profile.
 */
import { createBroker } from '../../src/broker/index.ts'
import { validateConfig } from '../../src/config/index.ts'
import { silentLogger } from '../../src/core/index.ts'
import { brokerSettings } from '../../src/gateway/options/broker.ts'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: fieldgate-server.ts <port>\n')
  process.exit(2)
}

const config = validateConfig({
  gateway: { id: 'bench' },
  log: { level: 'silent' },
  broker: {
    listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port, allow_anonymous: true }],
    // Room for the 5,000 idle connections plus the throughput clients; everything else at defaults.
    limits: { max_connections: 20_000 },
  },
})
const broker = await createBroker({ ...brokerSettings(config.broker), logger: silentLogger, gatewayId: config.gateway.id })
await broker.listen()
process.stdout.write(`READY ${port}\n`)

const stop = (): void => {
  setTimeout(() => process.exit(0), 3000).unref()
  broker.close().then(
    () => process.exit(0),
    () => process.exit(1),
  )
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

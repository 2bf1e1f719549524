/**
 * Fieldgate's broker in its own process: `node --import tsx bench/lib/fieldgate-server.ts <port>`.
 * One loopback listener, logging silent. Exits cleanly on SIGTERM so `--cpu-prof` can write its profile.
 */
import { silentLogger } from '../../src/core/index.ts'
import { validateConfig } from '../../src/config/index.ts'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: fieldgate-server.ts <port>\n')
  process.exit(2)
}

interface BenchBroker {
  listen(): Promise<void>
  close(): Promise<void>
}
type CreateBroker = (opts: { config: unknown; logger: typeof silentLogger; gatewayId: string }) => BenchBroker

// Resolved at run time so the harness type-checks while src/broker is still being written.
const brokerModule = '../../src/broker/index.ts'
const mod: unknown = await import(brokerModule)
const createBroker = (mod as { createBroker?: unknown }).createBroker
if (typeof createBroker !== 'function') {
  process.stderr.write('fieldgate-server: src/broker/index.ts does not export createBroker yet\n')
  process.exit(2)
}

const config = validateConfig({
  gateway: { id: 'bench' },
  log: { level: 'silent' },
  broker: {
    listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port, allow_anonymous: true }],
    limits: { max_connections: 20_000 },
  },
})
const broker = (createBroker as CreateBroker)({ config, logger: silentLogger, gatewayId: 'bench' })
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

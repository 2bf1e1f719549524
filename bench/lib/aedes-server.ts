/** Aedes baseline in its own process: `node --import tsx bench/lib/aedes-server.ts <port>`. */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  process.stderr.write('usage: aedes-server.ts <port>\n')
  process.exit(2)
}

const aedes = await Aedes.createBroker()
const server = createServer(aedes.handle)
server.listen(port, '127.0.0.1', () => process.stdout.write(`READY ${port}\n`))

const stop = (): void => {
  server.close()
  aedes.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

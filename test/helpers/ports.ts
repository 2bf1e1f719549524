import { createServer } from 'node:net'

const used = new Set<number>()

/**
 * A free TCP port on loopback in 20000–32000: below the ephemeral range (see FINDINGS) and never 1883.
 * Randomised per process so parallel test files rarely collide; verified by binding.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    if (used.has(port)) continue
    if (await canBind(port, host)) {
      used.add(port)
      return port
    }
  }
  throw new Error('no free port found in 20000-32000 after 200 attempts')
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

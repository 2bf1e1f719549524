import { request } from 'node:http'
import type { Status } from '../../src/core/index.ts'
import { silentLogger } from '../../src/core/index.ts'
import { createStatusServer, type StatusEvent, type StatusServerOptions } from '../../src/status/index.ts'

export const baseConfig = { host: '127.0.0.1', port: 0, allow_reload: false, heartbeat: 15_000, max_event_clients: 4, event_buffer: 256_000 }

/** An event source the test drives by hand, as main.ts drives the real one from drivers and modules. */
export function eventSource(): { on(cb: (e: StatusEvent) => void): () => void; emit(e: StatusEvent): void; listeners(): number } {
  const cbs = new Set<(e: StatusEvent) => void>()
  return {
    on(cb) {
      cbs.add(cb)
      return () => cbs.delete(cb)
    },
    emit(e) {
      for (const cb of cbs) cb(e)
    },
    listeners: () => cbs.size,
  }
}

export async function startServer(over: Partial<StatusServerOptions> & { sources?: () => Record<string, Status> } = {}) {
  const server = createStatusServer({
    config: baseConfig,
    info: { version: '9.9.9', gatewayId: 'site-7', startedAt: Date.now() - 5000 },
    sources: () => ({}),
    logger: silentLogger,
    dataDir: '.',
    ...over,
  })
  const addr = await server.listen()
  return { server, port: addr.port, url: (p: string) => `http://127.0.0.1:${addr.port}${p}` }
}

/** Reads server-sent events until `until` returns true or the timeout passes; returns the frames. */
export function readEvents(url: string, until: (frames: string[]) => boolean, timeout = 5000, headers: Record<string, string> = {}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const frames: string[] = []
    let buf = ''
    const req = request(url, { headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new Error(`status ${res.statusCode}`))
        return
      }
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let i: number
        while ((i = buf.indexOf('\n\n')) >= 0) {
          frames.push(buf.slice(0, i))
          buf = buf.slice(i + 2)
        }
        if (until(frames)) {
          clearTimeout(timer)
          req.destroy()
          resolve(frames)
        }
      })
    })
    const timer = setTimeout(() => {
      req.destroy()
      reject(new Error(`timed out; got ${JSON.stringify(frames)}`))
    }, timeout)
    req.on('error', (err) => {
      if (!req.destroyed) reject(err)
    })
    req.end()
  })
}

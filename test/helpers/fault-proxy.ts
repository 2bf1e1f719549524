import { createServer, connect, type Server, type Socket } from 'node:net'
import { freePort } from './ports.ts'

/**
 * A TCP proxy on loopback between a client and a broker that injects link faults:
 * - cut(): reset every current connection (the client sees the socket close);
 * - down(): cut and refuse new connections until restore();
 * - blackhole(): half-open link — bytes stop in both directions, sockets stay open (new ones too);
 * - delay(ms) / throttle(bytesPerSecond): slow links; restore() ends every fault.
 */
export interface FaultProxy {
  port: number
  target: number
  cut(): void
  down(): void
  blackhole(): void
  delay(ms: number): void
  throttle(bytesPerSecond: number): void
  restore(): void
  /** Open client connections. */
  connections(): number
  /** Accepted connections since start. */
  accepted(): number
  /** ms since epoch of the last byte forwarded client -> server. */
  lastUpstreamByteAt(): number
  close(): Promise<void>
}

type Mode = 'pass' | 'blackhole' | 'down'

interface Link {
  client: Socket
  server: Socket
  up: Pipe
  downstream: Pipe
  /** Black-holed at some point: its byte streams are no longer whole. */
  broken: boolean
}

interface Settings {
  mode: Mode
  delay: number
  rate: number
}

/** One direction: passes chunks through, optionally delayed and paced. */
class Pipe {
  private queue: Array<{ chunk: Buffer; at: number }> = []
  private timer: NodeJS.Timeout | null = null
  private lastAt = 0

  constructor(
    private readonly dst: Socket,
    private readonly settings: Settings,
    private readonly onForward: () => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.settings.mode !== 'pass') return // black hole: dropped on the floor
    const { delay, rate } = this.settings
    if (delay === 0 && rate === 0 && this.queue.length === 0) {
      this.write(chunk)
      return
    }
    const now = Date.now()
    // Throttled chunks are split so pacing is smooth at ~20 slices per second.
    const slice = rate > 0 ? Math.max(1, Math.floor(rate / 20)) : chunk.length
    for (let off = 0; off < chunk.length; off += slice) {
      const part = chunk.subarray(off, off + slice)
      let at = Math.max(now + delay, this.lastAt)
      if (rate > 0) at += (part.length * 1000) / rate
      this.lastAt = at
      this.queue.push({ chunk: part, at })
    }
    this.schedule()
  }

  clear(): void {
    this.queue = []
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return
    const wait = Math.max(0, (this.queue[0]?.at ?? 0) - Date.now())
    this.timer = setTimeout(() => {
      this.timer = null
      const now = Date.now()
      while (this.queue.length > 0 && (this.queue[0]?.at ?? 0) <= now) {
        const next = this.queue.shift()
        if (next && this.settings.mode === 'pass') this.write(next.chunk)
      }
      this.schedule()
    }, wait)
  }

  private write(chunk: Buffer): void {
    if (this.dst.destroyed) return
    this.dst.write(chunk)
    this.onForward()
  }
}

export async function startFaultProxy(target: number, host = '127.0.0.1'): Promise<FaultProxy> {
  const port = await freePort(host)
  const settings: Settings = { mode: 'pass', delay: 0, rate: 0 }
  const links = new Set<Link>()
  let accepted = 0
  let lastUp = 0

  const destroy = (l: Link): void => {
    l.up.clear()
    l.downstream.clear()
    l.client.destroy()
    l.server.destroy()
    links.delete(l)
  }

  const server: Server = createServer((client) => {
    accepted++
    if (settings.mode === 'down') {
      client.destroy()
      return
    }
    client.setNoDelay(true)
    const upstream = connect({ port: target, host })
    upstream.setNoDelay(true)
    const link: Link = {
      client,
      server: upstream,
      up: new Pipe(upstream, settings, () => (lastUp = Date.now())),
      downstream: new Pipe(client, settings, () => undefined),
      broken: settings.mode === 'blackhole',
    }
    links.add(link)
    client.on('data', (d: Buffer) => link.up.push(d))
    upstream.on('data', (d: Buffer) => link.downstream.push(d))
    const end = (): void => {
      // While black-holed the peer must not learn that the other side went away.
      if (settings.mode === 'blackhole' || link.broken) return
      destroy(link)
    }
    client.on('error', () => undefined)
    upstream.on('error', () => undefined)
    // A black hole hides a client's close from the broker too: the broker must find out by keep-alive.
    client.on('close', () => (link.broken ? link.up.clear() : destroy(link)))
    upstream.on('close', end)
  })
  await new Promise<void>((resolve) => server.listen({ port, host }, resolve))

  return {
    port,
    target,
    cut() {
      for (const l of [...links]) destroy(l)
    },
    down() {
      settings.mode = 'down'
      for (const l of [...links]) destroy(l)
    },
    blackhole() {
      settings.mode = 'blackhole'
      for (const l of links) {
        l.broken = true
        l.up.clear()
        l.downstream.clear()
      }
    },
    delay(ms: number) {
      settings.delay = Math.max(0, ms)
    },
    throttle(bytesPerSecond: number) {
      settings.rate = Math.max(0, bytesPerSecond)
    },
    restore() {
      settings.mode = 'pass'
      settings.delay = 0
      settings.rate = 0
      // Connections that lost bytes in a black hole cannot carry MQTT any more.
      for (const l of [...links]) if (l.broken) destroy(l)
    },
    connections: () => links.size,
    accepted: () => accepted,
    lastUpstreamByteAt: () => lastUp,
    async close() {
      for (const l of [...links]) destroy(l)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

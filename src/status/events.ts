import type { ServerResponse } from 'node:http'
import type { Logger } from '../core/index.ts'
import type { StatusEvent } from './types.ts'

interface Client {
  res: ServerResponse
  id: number
}

/**
 * Server-sent events fan-out. Each client's backlog is the socket's unsent bytes; a client whose
 * backlog passes `maxBuffer` is dropped instead of growing memory (a phone on a weak Wi-Fi link).
 */
export class EventHub {
  private readonly clients = new Map<number, Client>()
  private nextId = 1
  private heartbeat: NodeJS.Timeout | null = null
  dropped = 0
  sent = 0

  constructor(
    private readonly opts: { maxClients: number; maxBuffer: number; heartbeatMs: number; logger: Logger },
  ) {}

  get size(): number {
    return this.clients.size
  }

  /** Takes over the response; returns false when full. */
  add(res: ServerResponse, initial: StatusEvent[] = []): boolean {
    if (this.clients.size >= this.opts.maxClients) return false
    const id = this.nextId++
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    })
    res.write('retry: 2000\n\n')
    this.clients.set(id, { res, id })
    res.on('close', () => this.clients.delete(id))
    for (const e of initial) this.writeTo(this.clients.get(id), frame(e))
    if (!this.heartbeat && this.opts.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.broadcastRaw(`: heartbeat ${Date.now()}\n\n`), this.opts.heartbeatMs)
      this.heartbeat.unref()
    }
    return true
  }

  publish(e: StatusEvent): void {
    if (this.clients.size === 0) return
    this.broadcastRaw(frame(e))
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat)
    this.heartbeat = null
    for (const c of this.clients.values()) c.res.end()
    this.clients.clear()
  }

  private broadcastRaw(text: string): void {
    for (const c of [...this.clients.values()]) this.writeTo(c, text)
  }

  private writeTo(c: Client | undefined, text: string): void {
    if (!c) return
    if (c.res.writableLength + text.length > this.opts.maxBuffer) {
      this.dropped++
      this.clients.delete(c.id)
      this.opts.logger.warn({ client: c.id, unsent: c.res.writableLength }, 'status: dropping a slow /events client')
      c.res.destroy()
      return
    }
    c.res.write(text)
    this.sent++
  }
}

function frame(e: StatusEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`
}

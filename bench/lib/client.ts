import { connect as netConnect, type Socket } from 'node:net'
import mqtt from 'mqtt-packet'
import { FrameSplitter, PT, publishPacketId, writePuback } from './frames.ts'

/** Called per delivered PUBLISH: its QoS and the frame body bounds (topic, packet id, payload). */
export type PublishHandler = (qos: number, buf: Buffer, start: number, end: number) => void

export interface RawClientOptions {
  port: number
  host?: string
  clientId: string
  /** Clean session (default true); false resumes or creates a persistent session. */
  clean?: boolean
  keepalive?: number
  /** Time allowed for TCP connect + CONNACK. */
  timeoutMs?: number
  onPublish?: PublishHandler
  /** Called with the number of PUBACKs in one chunk, so publishers refill windows once per chunk. */
  onPubacks?: (count: number) => void
  /** Called once per socket chunk after its frames are handled (the place to refill windows). */
  onChunk?: () => void
}

/**
 * One MQTT 3.1.1 connection over a raw socket: CONNECT/SUBSCRIBE encoded by mqtt-packet, incoming
 * frames split by hand, QoS 1 deliveries acknowledged in one write per chunk.
 */
export class RawClient {
  readonly socket: Socket
  private readonly splitter: FrameSplitter
  private waiter: { type: number; resolve: (body: Buffer) => void } | null = null
  private ackBuf: Buffer = Buffer.allocUnsafe(4 * 1024)
  private ackLen = 0
  private ackScheduled = false
  private pubacks = 0
  private nextSubId = 1
  closed = false
  error: Error | null = null

  private constructor(socket: Socket, private readonly opts: RawClientOptions) {
    this.socket = socket
    this.splitter = new FrameSplitter((type, flags, buf, start, end) => this.frame(type, flags, buf, start, end))
    socket.on('data', (chunk: Buffer) => this.data(chunk))
    socket.on('error', (err) => {
      this.error = err
    })
    socket.on('close', () => {
      this.closed = true
    })
  }

  static connect(opts: RawClientOptions): Promise<RawClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port: opts.port, host: opts.host ?? '127.0.0.1' })
      socket.setNoDelay(true)
      const client = new RawClient(socket, opts)
      const timer = setTimeout(() => fail(new Error(`no CONNACK within ${timeoutMs} ms (${opts.clientId})`)), timeoutMs)
      const fail = (err: Error): void => {
        clearTimeout(timer)
        socket.destroy()
        reject(err)
      }
      socket.once('error', fail)
      socket.once('close', () => fail(new Error(`connection closed before CONNACK (${opts.clientId})`)))
      socket.once('connect', () => {
        socket.write(
          mqtt.generate({
            cmd: 'connect',
            protocolId: 'MQTT',
            protocolVersion: 4,
            clean: opts.clean ?? true,
            clientId: opts.clientId,
            keepalive: opts.keepalive ?? 300,
          }),
        )
      })
      client.waiter = {
        type: PT.CONNACK,
        resolve: (body) => {
          clearTimeout(timer)
          socket.removeListener('error', fail)
          socket.removeAllListeners('close')
          socket.on('close', () => {
            client.closed = true
          })
          const rc = body[1] ?? 255
          if (rc !== 0) {
            socket.destroy()
            reject(new Error(`CONNACK return code ${rc} (${opts.clientId})`))
          } else resolve(client)
        },
      }
    })
  }

  subscribe(filter: string, qos: 0 | 1, timeoutMs = 10_000): Promise<void> {
    const messageId = this.nextSubId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SUBACK for ${filter} within ${timeoutMs} ms`)), timeoutMs)
      this.waiter = {
        type: PT.SUBACK,
        resolve: (body) => {
          clearTimeout(timer)
          const granted = body[2] ?? 0x80
          if (granted === 0x80) reject(new Error(`subscription to ${filter} refused`))
          else resolve()
        },
      }
      this.socket.write(mqtt.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos }] }))
    })
  }

  write(buf: Buffer): boolean {
    return this.socket.write(buf)
  }

  close(): void {
    this.closed = true
    this.socket.destroy()
  }

  private data(chunk: Buffer): void {
    this.splitter.push(chunk)
    // PUBACKs go out once per event-loop turn: a broker that sends each PUBLISH in its own segment
    // would otherwise cost the generator one write syscall per delivery.
    if (this.ackLen > 0 && !this.ackScheduled) {
      this.ackScheduled = true
      setImmediate(() => this.flushAcks())
    }
    if (this.pubacks > 0) {
      const n = this.pubacks
      this.pubacks = 0
      this.opts.onPubacks?.(n)
    }
    this.opts.onChunk?.()
  }

  private flushAcks(): void {
    this.ackScheduled = false
    if (this.ackLen === 0 || this.closed) return
    this.socket.write(Buffer.from(this.ackBuf.subarray(0, this.ackLen)))
    this.ackLen = 0
  }

  private frame(type: number, flags: number, buf: Buffer, start: number, end: number): void {
    if (type === PT.PUBLISH) {
      const qos = (flags >> 1) & 3
      if (qos === 1) {
        if (this.ackLen + 4 > this.ackBuf.length) {
          const bigger = Buffer.allocUnsafe(this.ackBuf.length * 2)
          this.ackBuf.copy(bigger, 0, 0, this.ackLen)
          this.ackBuf = bigger
        }
        writePuback(this.ackBuf, this.ackLen, publishPacketId(buf, start))
        this.ackLen += 4
      }
      this.opts.onPublish?.(qos, buf, start, end)
    } else if (type === PT.PUBACK) {
      this.pubacks++
    } else if (this.waiter && type === this.waiter.type) {
      const w = this.waiter
      this.waiter = null
      w.resolve(Buffer.from(buf.subarray(start, end)))
    }
  }
}

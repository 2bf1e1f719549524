import { connect, type Socket } from 'node:net'
import type { OpenSerialPort, SerialOptions } from '../serial/port.ts'
import { LinkDownError } from './errors.ts'

/** A byte pipe under a Modbus transport: a serial port or a TCP connection. */
export interface ByteLink {
  write(b: Buffer): Promise<void>
  /** One listener each; data and close after close() are not delivered. */
  onData(cb: (b: Buffer) => void): void
  onClose(cb: (err: Error) => void): void
  readonly isOpen: boolean
  close(): Promise<void>
}

function codeOf(err: unknown): string | undefined {
  const c = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined
  return typeof c === 'string' ? c : undefined
}

/** Opens a serial port (through the injected opener) as a ByteLink. */
export async function openSerialLink(open: OpenSerialPort, o: SerialOptions): Promise<ByteLink> {
  const port = open(o)
  let onData: (b: Buffer) => void = () => undefined
  let onClose: (err: Error) => void = () => undefined
  let open_ = false
  port.on('error', () => undefined)
  await new Promise<void>((resolve, reject) =>
    port.open((err) => {
      if (!err) return resolve()
      const code = /No such file/i.test(err.message) ? 'ENOENT' : /Permission denied/i.test(err.message) ? 'EACCES' : codeOf(err)
      reject(new LinkDownError(`cannot open ${o.path}: ${err.message}`, code, { cause: err }))
    }),
  )
  open_ = true
  port.on('data', (b: Buffer) => {
    if (open_) onData(b)
  })
  port.on('close', (err?: Error) => {
    if (!open_) return
    open_ = false
    onClose(new LinkDownError(`${o.path} closed${err ? `: ${err.message}` : ''}`, err ? 'ENOENT' : undefined, { cause: err }))
  })
  return {
    write: (b) =>
      new Promise((resolve, reject) => {
        if (!open_) return reject(new LinkDownError(`${o.path} is not open`))
        port.write(b, (err) => (err ? reject(new LinkDownError(`write to ${o.path} failed: ${err.message}`, codeOf(err), { cause: err })) : resolve()))
      }),
    onData: (cb) => void (onData = cb),
    onClose: (cb) => void (onClose = cb),
    get isOpen() {
      return open_ && port.isOpen
    },
    close: () =>
      new Promise((resolve) => {
        if (!open_ && !port.isOpen) return resolve()
        open_ = false
        // A port whose device vanished may never call back (FINDINGS): do not let that stall the line.
        const guard = setTimeout(resolve, 500)
        try {
          port.close(() => {
            clearTimeout(guard)
            resolve()
          })
        } catch {
          clearTimeout(guard)
          resolve()
        }
      }),
  }
}

/** Connects a TCP socket as a ByteLink; the error keeps the system's code (ECONNREFUSED...). */
export async function openTcpLink(host: string, port: number, connectTimeout: number): Promise<ByteLink> {
  const sock: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host, port })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new LinkDownError(`connect to ${host}:${port} timed out after ${connectTimeout} ms`, 'ETIMEDOUT'))
    }, connectTimeout)
    s.once('connect', () => {
      clearTimeout(timer)
      resolve(s)
    })
    s.once('error', (err) => {
      clearTimeout(timer)
      s.destroy()
      reject(new LinkDownError(`connect to ${host}:${port} failed: ${err.message}`, codeOf(err), { cause: err }))
    })
  })
  sock.setNoDelay(true)
  sock.setKeepAlive(true, 10_000)
  let onData: (b: Buffer) => void = () => undefined
  let onClose: (err: Error) => void = () => undefined
  let open_ = true
  let lastError: Error | null = null
  sock.on('data', (b: Buffer) => {
    if (open_) onData(b)
  })
  sock.on('error', (err) => {
    lastError = err
  })
  sock.on('close', () => {
    if (!open_) return
    open_ = false
    const e = lastError
    onClose(new LinkDownError(`connection to ${host}:${port} closed${e ? `: ${e.message}` : ' by the peer'}`, e ? codeOf(e) : 'ECONNRESET', { cause: e ?? undefined }))
  })
  return {
    write: (b) =>
      new Promise((resolve, reject) => {
        if (!open_) return reject(new LinkDownError(`connection to ${host}:${port} is closed`, 'EPIPE'))
        sock.write(b, (err) => (err ? reject(new LinkDownError(`write to ${host}:${port} failed: ${err.message}`, codeOf(err), { cause: err })) : resolve()))
      }),
    onData: (cb) => void (onData = cb),
    onClose: (cb) => void (onClose = cb),
    get isOpen() {
      return open_ && !sock.destroyed
    },
    close: () =>
      new Promise((resolve) => {
        open_ = false
        if (sock.destroyed) return resolve()
        sock.once('close', () => resolve())
        sock.destroy()
      }),
  }
}

import type { IncomingMessage } from 'node:http'
import { request, type RequestOptions } from 'node:https'
import { errorMessage, redactUrl, systemClock, type Clock, type Logger } from '../core/index.ts'

/** What a URL download feeds: the transfer's chunk handling and what it still misses. */
export interface UrlSink {
  /** Chunk indices still missing, ascending, at most `max`. */
  missing(max: number): number[]
  /** One chunk; false when the transfer no longer wants any (stop). */
  take(index: number, bytes: Buffer): Promise<boolean>
  /** CA certificates (PEM) to trust besides the system's. */
  ca(): string | undefined
}

/** Attempts in a row that brought no chunk before the download gives up. */
const MAX_FAILURES = 8
const MAX_REDIRECTS = 5
/** A connection that sends nothing for this long is dropped (and tried again). */
const IDLE_MS = 30_000

/** A failure that trying again will not mend: a certificate not trusted, a missing file, a refused request. */
class Permanent extends Error {}

function permanent(err: unknown): boolean {
  if (err instanceof Permanent) return true
  const code = String((err as NodeJS.ErrnoException).code ?? '')
  return code.startsWith('CERT_') || code.startsWith('UNABLE_TO_') || code.includes('SELF_SIGNED') || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'ERR_INVALID_URL'
}

/**
 * Fetches an update's missing chunks from an HTTPS URL (docs/fleet.md, "From an HTTPS URL"): one
 * `Range` request per run of missing chunks, each chunk handed on (checked and written) before more
 * of the body is read, so memory is one chunk. A dropped connection or a server error is tried again
 * with back-off, asking only for what is still missing; a certificate that is not trusted or an HTTP
 * 4xx ends it at once. Bounded: MAX_FAILURES attempts in a row without a chunk.
 */
export class UrlSource {
  private stopped = false
  private current: IncomingMessage | null = null
  private wake: (() => void) | null = null

  constructor(
    private readonly url: string,
    private readonly plan: { size: number; chunkSize: number },
    private readonly sink: UrlSink,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Runs until every chunk is in (null), the download fails for good (the reason), or stop(). */
  async run(): Promise<string | null> {
    let failures = 0
    let delay = 1000
    while (!this.stopped) {
      const missing = this.sink.missing(Number.MAX_SAFE_INTEGER)
      if (missing.length === 0) return null
      let last = missing[0] as number
      for (const i of missing) if (i <= last + 1) last = i
      try {
        const took = await this.fetch(missing[0] as number, last)
        if (took === 0 && !this.stopped) throw new Error('the server sent no chunk')
        failures = 0
        delay = 1000
      } catch (err) {
        if (this.stopped) return null
        const why = `${redactUrl(this.url)}: ${errorMessage(err)}`
        if (permanent(err)) return err instanceof Permanent || (err as NodeJS.ErrnoException).code === 'ERR_INVALID_URL' ? why : `${why}; trust the server's CA with update.ca_file`
        if (++failures >= MAX_FAILURES) return `gave up after ${failures} attempts in a row without a chunk; the last: ${why}`
        this.log.warn({ reason: why, retryMs: delay }, 'update: download interrupted; it resumes with what is missing')
        await new Promise<void>((r) => {
          const t = this.clock.setTimeout(r, delay)
          this.wake = () => {
            this.clock.clearTimeout(t)
            r()
          }
        })
        delay = Math.min(delay * 2, 60_000)
      }
    }
    return null
  }

  stop(): void {
    this.stopped = true
    this.current?.destroy()
    this.wake?.()
  }

  /** Chunks `first`…`last` (what the server sends of them); how many were taken. */
  private async fetch(first: number, last: number): Promise<number> {
    const { chunkSize, size } = this.plan
    const from = first * chunkSize
    const to = Math.min(size, (last + 1) * chunkSize) - 1
    const res = await this.get(this.url, `bytes=${from}-${to}`, MAX_REDIRECTS)
    this.current = res
    if (res.statusCode === 206 && !new RegExp(`^bytes ${from}-`).test(String(res.headers['content-range'] ?? ''))) {
      res.destroy()
      throw new Error(`the server answered range ${from}-${to} with ${String(res.headers['content-range'])}`)
    }
    // 206: the range asked for; 200: a server that ignores ranges sends the whole file (what is on
    // disk already is dropped as a duplicate).
    let start = res.statusCode === 206 ? from : 0
    const length = (at: number): number => Math.min(chunkSize, size - at)
    const buf = Buffer.allocUnsafe(chunkSize)
    let fill = 0
    let taken = 0
    try {
      // Bounded by the body: every piece is used up or the file is complete.
      for await (const piece of res as AsyncIterable<Buffer>) {
        let at = 0
        while (at < piece.length && start < size) {
          const n = Math.min(length(start) - fill, piece.length - at)
          piece.copy(buf, fill, at, at + n)
          fill += n
          at += n
          if (fill < length(start)) continue
          // The chunk is checked and written before more of the body is read (the buffer is reused).
          if (!(await this.sink.take(start / chunkSize, buf.subarray(0, fill)))) return taken
          taken++
          start += chunkSize
          fill = 0
        }
        if (start >= size || this.stopped) break
      }
    } finally {
      res.destroy()
      this.current = null
    }
    return taken
  }

  private get(url: string, range: string, redirects: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      let u: URL
      try {
        u = new URL(url)
      } catch {
        return reject(new Permanent(`${redactUrl(url)} is not a URL`))
      }
      if (u.protocol !== 'https:') return reject(new Permanent(`${redactUrl(url)} is not https://`))
      let ca: string | undefined
      try {
        ca = this.sink.ca()
      } catch (err) {
        return reject(new Permanent(errorMessage(err)))
      }
      const auth = u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined
      const opts: RequestOptions = { method: 'GET', headers: { Range: range, 'User-Agent': 'fieldgate-update' }, timeout: IDLE_MS, ...(auth ? { auth } : {}) }
      if (ca !== undefined) opts.ca = ca
      u.username = ''
      u.password = ''
      const req = request(u, opts, (res) => {
        const status = res.statusCode ?? 0
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume()
          if (redirects <= 0) return reject(new Permanent('too many redirects'))
          return resolve(this.get(new URL(res.headers.location, u).toString(), range, redirects - 1))
        }
        if (status === 200 || status === 206) return resolve(res)
        res.resume()
        const e = `HTTP ${status} ${res.statusMessage ?? ''}`.trim()
        reject(status >= 400 && status < 500 && status !== 408 && status !== 429 ? new Permanent(e) : new Error(e))
      })
      req.on('timeout', () => req.destroy(new Error(`no data for ${IDLE_MS / 1000} s`)))
      req.on('error', reject)
      req.end()
    })
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'

export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
}

/**
 * Whether an Accept-Encoding header admits gzip (RFC 9110 12.5.3): `gzip` or `x-gzip` with a q above 0,
 * or, when neither is named, `*` with a q above 0. `gzip;q=0` refuses it.
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false
  let gzip: number | null = null
  let star: number | null = null
  for (const item of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [name = '', ...params] = item.split(';').map((s) => s.trim().toLowerCase())
    const qParam = params.find((p) => p.startsWith('q='))
    const q = qParam === undefined ? 1 : Number(qParam.slice(2))
    const weight = Number.isFinite(q) ? q : 0
    if (name === 'gzip' || name === 'x-gzip') gzip = Math.max(gzip ?? 0, weight)
    else if (name === '*') star = weight
  }
  return (gzip ?? star ?? 0) > 0
}

/** A fixed body compressed once, at start: answers cost a header check, not a gzip run. */
export interface Precompressed {
  readonly raw: Buffer
  readonly gzip: Buffer
  readonly headers: Readonly<Record<string, string>>
}

export function precompress(body: string, type: string, headers: Record<string, string> = {}): Precompressed {
  const raw = Buffer.from(body, 'utf8')
  return { raw, gzip: gzipSync(raw, { level: 9 }), headers: { ...SECURITY_HEADERS, 'content-type': type, vary: 'accept-encoding', ...headers } }
}

/** The gzip form when the client takes it, the plain bytes otherwise; both say Vary: Accept-Encoding for caches. */
export function sendPrecompressed(req: IncomingMessage, res: ServerResponse, body: Precompressed): void {
  const gz = acceptsGzip(req.headers['accept-encoding'])
  const bytes = gz ? body.gzip : body.raw
  res.writeHead(200, { ...body.headers, ...(gz ? { 'content-encoding': 'gzip' } : {}), 'content-length': bytes.length })
  res.end(bytes)
}

export function send(res: ServerResponse, code: number, body: string, type: string, extra: Record<string, string> = {}): void {
  res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra })
  res.end(body)
}

export function json(res: ServerResponse, code: number, value: unknown): void {
  send(res, code, JSON.stringify(value), 'application/json; charset=utf-8')
}

/** The hour of every point is ~100 kB of JSON at 100 points and mostly repeats: gzip it for phones. */
export function jsonGzip(req: IncomingMessage, res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value)
  if (!acceptsGzip(req.headers['accept-encoding']) || body.length < 2048) return json(res, 200, value)
  const gz = gzipSync(body)
  res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-encoding': 'gzip', vary: 'accept-encoding', 'content-length': gz.length })
  res.end(gz)
}

import type { ConfigSignature } from './config-signature.ts'
import { mgmtTopics, validReplyTopic, type MgmtTopics } from './topics.ts'

/** The operations this gateway understands. */
export const OPERATIONS = ['config', 'inventory', 'logs', 'status', 'update'] as const
export type Operation = (typeof OPERATIONS)[number]

/** Where and how to answer: MQTT 5 Response Topic + Correlation Data, or the 3.1.1 fallback in the JSON body. */
export interface ReplyRoute {
  topic: string
  correlationData?: Buffer
  correlationId?: string
}

export interface Request {
  op: Operation
  route: ReplyRoute
  /** For `config`: the whole TOML text. */
  config?: string
  /** For `config`: instead of a whole text, a JSON merge patch (RFC 7386) onto the running config, as `JSON.stringify` writes it (what an operator signs). */
  patch?: string
  /** For `config`: the commit deadline asked for, in ms (bounded by the caller). */
  deadlineMs?: number
  /** For `config`: the operator's signature (required when the gateway lists operator keys). */
  signature?: ConfigSignature
  /** For `logs`: how many recent lines (1…1000). */
  lines?: number
  /** For `update`: the signed manifest's JSON text. */
  manifest?: string
  /** For `update`: install once received (default), or only receive and verify it (`"install": false`). */
  install?: boolean
  /** For `update`: fetch the bytes from this HTTPS URL instead of receiving them over MQTT. */
  url?: string
}

export type Parsed = { ok: true; request: Request } | { ok: false; route: ReplyRoute; op: string; reason: string }

export interface IncomingProps {
  responseTopic?: string | undefined
  correlationData?: Buffer | undefined
}

/** Largest request payload accepted; a config file is a few KB. */
export const MAX_REQUEST_BYTES = 1_000_000

/**
 * Reads one request. The payload is either the bare TOML text (config) or a JSON object
 * `{"config": "...", "reply_to": "...", "correlation_id": "...", "commit_deadline": "45s"}`; `reply_to` and
 * `correlation_id` are the fallback for MQTT 3.1.1, which has no Response Topic or Correlation Data.
 */
export function parseRequest(topics: MgmtTopics, topic: string, payload: Buffer, props: IncomingProps = {}): Parsed | null {
  const op = topics.opOf(topic)
  if (op === null) return null
  const route: ReplyRoute = { topic: topics.defaultReply(safeOp(op)) }
  if (props.correlationData !== undefined) route.correlationData = props.correlationData
  const fail = (reason: string): Parsed => ({ ok: false, route, op, reason })
  if (props.responseTopic !== undefined) {
    if (!validReplyTopic(props.responseTopic)) return fail(`response topic "${props.responseTopic}" is not a topic name outside a management request tree (no wildcards, not $..., not fieldgate/<id>/mgmt/ except .../mgmt/res/...)`)
    route.topic = props.responseTopic
  }
  if (payload.length > MAX_REQUEST_BYTES) return fail(`request of ${payload.length} bytes is over the ${MAX_REQUEST_BYTES}-byte limit`)
  const text = payload.toString('utf8')
  let body: Record<string, unknown> = {}
  const json = text.trimStart().startsWith('{')
  if (json) {
    try {
      const v: unknown = JSON.parse(text)
      if (!v || typeof v !== 'object' || Array.isArray(v)) return fail('the request body must be a JSON object or the TOML text itself')
      body = v as Record<string, unknown>
    } catch (err) {
      return fail(`the request body starts with "{" but is not JSON (${(err as Error).message})`)
    }
    if (body.correlation_id !== undefined) {
      if (typeof body.correlation_id !== 'string' || body.correlation_id.length > 256) return fail('correlation_id must be a string of at most 256 characters')
      route.correlationId = body.correlation_id
    }
    if (body.reply_to !== undefined && props.responseTopic === undefined) {
      if (typeof body.reply_to !== 'string' || !validReplyTopic(body.reply_to)) return fail('reply_to must be a topic name outside a management request tree (no wildcards, not $..., not fieldgate/<id>/mgmt/ except .../mgmt/res/...)')
      route.topic = body.reply_to
    }
  }
  if (!(OPERATIONS as readonly string[]).includes(op)) return fail(`unknown operation "${op}"; this gateway understands ${OPERATIONS.join(', ')}`)
  const request: Request = { op: op as Operation, route }
  if (op === 'config') {
    if (json && body.patch !== undefined) {
      if (body.config !== undefined) return fail('a config request carries either "config" (the whole TOML text) or "patch", not both')
      if (!body.patch || typeof body.patch !== 'object' || Array.isArray(body.patch)) return fail('"patch" is a JSON object: a merge patch (RFC 7386) onto the running config, e.g. {"log": {"level": "debug"}}; null removes a key')
      request.patch = JSON.stringify(body.patch)
    } else {
      const config = json ? body.config : text
      if (typeof config !== 'string' || config.trim() === '') return fail('a config request carries the whole TOML config (as the payload itself, or as "config" in a JSON body) or a "patch"')
      request.config = config
    }
    if (body.signature !== undefined) {
      const g = body.signature as Record<string, unknown> | null
      if (!g || typeof g !== 'object' || typeof g.key_id !== 'string' || typeof g.expires !== 'string' || typeof g.sig !== 'string' || g.sig.length > 200 || g.expires.length > 64) return fail('signature must be {"key_id": "…", "expires": "<ISO time>", "sig": "<base64>"}')
      request.signature = { key_id: g.key_id.slice(0, 32), expires: g.expires, sig: g.sig }
    }
    if (body.commit_deadline !== undefined) {
      const ms = durationMs(body.commit_deadline)
      if (ms === null) return fail('commit_deadline must be milliseconds or a duration such as "45s"')
      request.deadlineMs = ms
    }
  }
  if (op === 'update') {
    if (!json) return fail('an update request is JSON: the signed manifest itself, or {"manifest": <the manifest>, "install": true}')
    // The manifest as fieldgate sign wrote it (mosquitto_rr -f it), or inside "manifest" with the request's own fields.
    const m = body.format !== undefined ? body : body.manifest
    if (typeof m === 'string') request.manifest = m
    else if (m !== null && typeof m === 'object' && !Array.isArray(m)) request.manifest = JSON.stringify(m)
    else return fail('an update request carries the signed manifest (what fieldgate sign wrote): as the body itself, or as "manifest"')
    if (body.install !== undefined && typeof body.install !== 'boolean') return fail('install must be true or false')
    request.install = body.install !== false
    if (body.url !== undefined) {
      if (typeof body.url !== 'string' || body.url.length > 2048 || !/^https:\/\/[^/\s]+/.test(body.url)) return fail('url must be an https:// URL of at most 2048 characters')
      request.url = body.url
    }
  }
  if (op === 'logs') {
    const n = body.lines ?? 100
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1000) return fail('lines must be a whole number from 1 to 1000')
    request.lines = n
  }
  return { ok: true, request }
}

/** Only a plain level name becomes part of a default reply topic. */
function safeOp(op: string): string {
  return /^[A-Za-z0-9_-]{1,32}$/.test(op) ? op : 'error'
}

function durationMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v
  if (typeof v !== 'string') return null
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/.exec(v.trim())
  if (!m) return null
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'])
}

/** The JSON reply body: the outcome, and the 3.1.1 correlation id when the request carried one. */
export function replyBody(route: ReplyRoute, op: string, fields: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ op, ...fields, ...(route.correlationId === undefined ? {} : { correlation_id: route.correlationId }), ts: new Date().toISOString() }))
}

export { mgmtTopics }

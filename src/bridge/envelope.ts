import type { Message, PublishProperties } from '../core/index.ts'

/**
 * The JSON envelope of the "envelope" format: everything the cloud needs to know about a local message
 * without MQTT v5 (topic, publisher, QoS, retain, receive time, properties, configured metadata).
 */
export interface Envelope {
  id: string
  gateway: string
  topic: string
  clientId: string | null
  qos: number
  retain: boolean
  /** ms since epoch when the message entered the gateway. */
  ts: number
  /** The payload as UTF-8 text when it is valid UTF-8, else base64. */
  payload: string
  encoding: 'utf8' | 'base64'
  properties?: Record<string, unknown>
  metadata: Record<string, string>
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export function buildEnvelope(m: Message, ctx: { id: string; gateway: string; ts: number; metadata: Record<string, string> }): Buffer {
  let payload: string
  let encoding: Envelope['encoding'] = 'utf8'
  try {
    payload = strictUtf8.decode(m.payload)
  } catch {
    payload = m.payload.toString('base64')
    encoding = 'base64'
  }
  const env: Envelope = {
    id: ctx.id,
    gateway: ctx.gateway,
    topic: m.topic,
    clientId: m.origin ?? null,
    qos: m.qos,
    retain: m.retain,
    ts: ctx.ts,
    payload,
    encoding,
    metadata: ctx.metadata,
  }
  if (m.properties) env.properties = jsonProperties(m.properties)
  return Buffer.from(JSON.stringify(env))
}

/** v5 properties in JSON form (correlation data as base64). */
function jsonProperties(p: PublishProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue
    out[k] = Buffer.isBuffer(v) ? v.toString('base64') : v
  }
  return out
}

/** Reads an envelope back (tests, and cloud-side consumers written in TypeScript). */
export function parseEnvelope(payload: Buffer): Envelope | null {
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return null
  }
  if (typeof v !== 'object' || v === null) return null
  const e = v as Record<string, unknown>
  if (typeof e.id !== 'string' || typeof e.topic !== 'string' || typeof e.payload !== 'string') return null
  return e as unknown as Envelope
}

export function envelopePayload(e: Envelope): Buffer {
  return Buffer.from(e.payload, e.encoding === 'base64' ? 'base64' : 'utf8')
}

export type Qos = 0 | 1 | 2

/** MQTT v5 publish properties carried end-to-end (a subset of mqtt-packet's, with plain types). */
export interface PublishProperties {
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: Record<string, string | string[]>
}

/** A message as it flows between modules. `receivedAt` is ms since epoch when it entered the gateway. */
export interface Message {
  topic: string
  payload: Buffer
  qos: Qos
  retain: boolean
  properties?: PublishProperties
  /** The client id that published it locally, or an in-process origin such as `$driver` / `$bridge:name`. */
  origin?: string
  receivedAt?: number
}

export type Quality = 'good' | 'stale' | 'error'

/** A sensor value. `ts` is when it was measured (ms since epoch), not when it was sent. */
export interface Reading {
  device: string
  point: string
  value: number | boolean | string
  unit?: string
  ts: number
  quality: Quality
  /** Modbus exception code or other error description when quality is 'error'. */
  error?: string
}

export type Health = 'ok' | 'degraded' | 'down'

/** Every module's self-report. `details` is JSON-serialisable and never contains secrets. */
export interface Status {
  health: Health
  /** Human-readable reason when health is not ok. */
  reason?: string
  details: Record<string, unknown>
}

export interface StatusSource {
  status(): Status
}

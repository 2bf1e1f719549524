import { isManagementReplyTopic, isManagementTopic, UPDATE_TRANSFERS } from '../core/index.ts'

/**
 * The management topic tree on the cloud broker (docs/fleet.md). Everything lives under
 * `fieldgate/<gateway id>/mgmt/`; the gateway subscribes only to `req/#` below its own prefix, and
 * while it receives an update to that update's shared transfer topic.
 */
export interface MgmtTopics {
  prefix: string
  /** Retained description of the gateway; its Last Will marks it offline. */
  inventory: string
  /** One message per management operation and outcome (not retained). */
  events: string
  /** The gateway's progress on an update transfer; with `missing`, a request for those chunks. */
  transfer: string
  /** What the gateway subscribes to: requests for this gateway only. */
  requests: string
  /** Chunks sent to this gateway alone: `<prefix>/req/chunk/<transfer id>/<index>`. */
  chunks: string
  /** The operation named by a request topic, or null when the topic is not a request to this gateway. */
  opOf(topic: string): string | null
  /** Where a reply goes when the request named no reply topic. */
  defaultReply(op: string): string
}

export function mgmtTopics(gatewayId: string): MgmtTopics {
  const prefix = `fieldgate/${gatewayId}/mgmt`
  const req = `${prefix}/req/`
  return {
    prefix,
    inventory: `${prefix}/inventory`,
    events: `${prefix}/events`,
    transfer: `${prefix}/transfer`,
    requests: `${req}#`,
    chunks: `${req}chunk`,
    opOf: (topic) => (topic.startsWith(req) && topic.length > req.length ? topic.slice(req.length) : null),
    defaultReply: (op) => `${prefix}/res/${op}`,
  }
}

/** Names an update's transfer: the first 16 hex digits of its SHA-256, so operator and gateways agree without being told. */
export function transferId(sha256: string): string {
  return sha256.slice(0, 16)
}

/** The shared topic tree of one update's chunks: `fieldgate/updates/<transfer id>`, one message per chunk at `/<index>`. */
export function sharedTransferTopic(id: string): string {
  return `${UPDATE_TRANSFERS}/${id}`
}

/**
 * The transfer id and chunk index of a chunk topic (the shared one, or this gateway's own
 * `.../req/chunk/<id>/<index>`), or null when `topic` is not one.
 */
export function chunkOf(topics: MgmtTopics, topic: string): { transfer: string; index: number } | null {
  let rest: string
  if (topic.startsWith(`${UPDATE_TRANSFERS}/`)) rest = topic.slice(UPDATE_TRANSFERS.length + 1)
  else if (topic.startsWith(`${topics.chunks}/`)) rest = topic.slice(topics.chunks.length + 1)
  else return null
  const m = /^([0-9a-f]{16})\/(0|[1-9]\d{0,8})$/.exec(rest)
  return m ? { transfer: m[1] as string, index: Number(m[2]) } : null
}

/**
 * A topic a reply may be published to: no wildcards, no empty string, no `$` system topics
 * [MQTT-4.7.2-1], and inside a management tree only a `res/` subtree: a reply sent into a request tree
 * would be a request to this or another gateway, made with this gateway's cloud credentials.
 */
export function validReplyTopic(t: string): boolean {
  if (isManagementTopic(t) && !isManagementReplyTopic(t)) return false
  return t.length > 0 && t.length <= 1024 && !/[+#]/.test(t) && !t.includes('\0') && !t.startsWith('$')
}

export { isManagementTopic }

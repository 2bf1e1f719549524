import { isManagementReplyTopic, isManagementTopic } from '../core/index.ts'

/**
 * The management topic tree on the cloud broker (docs/fleet.md). Everything lives under
 * `fieldgate/<gateway id>/mgmt/`; the gateway subscribes only to `req/#` below its own prefix.
 */
export interface MgmtTopics {
  prefix: string
  /** Retained description of the gateway; its Last Will marks it offline. */
  inventory: string
  /** One message per management operation and outcome (not retained). */
  events: string
  /** What the gateway subscribes to: requests for this gateway only. */
  requests: string
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
    requests: `${req}#`,
    opOf: (topic) => (topic.startsWith(req) && topic.length > req.length ? topic.slice(req.length) : null),
    defaultReply: (op) => `${prefix}/res/${op}`,
  }
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

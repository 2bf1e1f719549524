import { isManagementTopic, topicMatches, type Message, type PublishProperties, type Qos } from '../core/index.ts'
import { buildEnvelope } from './envelope.ts'
import { compileTemplate, coverFilter, renderTemplate, stripPrefix, type Template } from './remap.ts'
import type { DownlinkRule, ForwardRule } from './uplink-options.ts'

/** User properties that let the cloud side de-duplicate re-sent messages (v5 uplinks). */
export const MESSAGE_ID_PROPERTY = 'fg-id'
export const TIMESTAMP_PROPERTY = 'fg-ts'

interface CompiledForward {
  rule: ForwardRule
  remote: Template
  /** Remote topics this rule can produce (3.1.1 loop check). */
  cover: string
}

interface CompiledDownlink {
  rule: DownlinkRule
  local: Template
}

/** Stable per-process id source: a random boot prefix and a counter, cheaper than a UUID per message. */
export class MessageIds {
  private n = 0
  private readonly boot: string

  constructor(random: () => number = Math.random) {
    this.boot = Math.floor(random() * 0xffffffff)
      .toString(16)
      .padStart(8, '0')
  }

  next(): string {
    return `${this.boot}-${(this.n++).toString(36)}`
  }
}

/** Local -> cloud forwarding: the first rule whose filter matches decides topic, QoS, retain and format. */
export class ForwardRules {
  private readonly rules: CompiledForward[]

  constructor(
    rules: ForwardRule[],
    private readonly gateway: string,
    private readonly ids: MessageIds = new MessageIds(),
    private readonly now: () => number = Date.now,
  ) {
    this.rules = rules.map((rule) => {
      const remote = compileTemplate(rule.remote)
      return { rule, remote, cover: coverFilter(remote, rule.filter, rule.stripPrefix, gateway) }
    })
  }

  filters(): string[] {
    return [...new Set(this.rules.map((r) => r.rule.filter))]
  }

  /** Filters covering every remote topic we publish to. */
  covers(): string[] {
    return this.rules.map((r) => r.cover)
  }

  /**
   * The message to enqueue for the cloud, or null when no rule matches or the template cannot be filled.
   * With `viaFilter` (the filter the caller subscribed with), null unless that filter belongs to the first
   * matching rule, so a message matching several subscribed filters goes up once.
   */
  outbound(m: Message, viaFilter?: string): Message | null {
    const c = this.rules.find((r) => topicMatches(r.rule.filter, m.topic))
    if (!c || (viaFilter !== undefined && c.rule.filter !== viaFilter)) return null
    const topic = renderTemplate(c.remote, stripPrefix(m.topic, c.rule.stripPrefix), this.gateway)
    if (topic === null) return null
    const qos: Qos = c.rule.qos === 'message' ? m.qos : c.rule.qos
    const retain = c.rule.retain === 'message' ? m.retain : c.rule.retain
    const id = this.ids.next()
    const ts = m.receivedAt ?? this.now()
    if (c.rule.format === 'envelope') {
      const payload = buildEnvelope(m, { id, gateway: this.gateway, ts, metadata: c.rule.metadata })
      return {
        topic,
        payload,
        qos,
        retain,
        properties: { contentType: 'application/json', userProperties: idProperties(id, ts) },
        receivedAt: ts,
      }
    }
    return { topic, payload: m.payload, qos, retain, properties: withIdProperties(m.properties, id, ts), receivedAt: ts }
  }
}

function idProperties(id: string, ts: number): Record<string, string> {
  return { [MESSAGE_ID_PROPERTY]: id, [TIMESTAMP_PROPERTY]: String(ts) }
}

function withIdProperties(p: PublishProperties | undefined, id: string, ts: number): PublishProperties {
  return { ...p, userProperties: { ...p?.userProperties, ...idProperties(id, ts) } }
}

/** Cloud -> local remapping: the first rule whose remote filter matches. */
export class DownlinkRules {
  private readonly rules: CompiledDownlink[]

  constructor(
    rules: DownlinkRule[],
    private readonly gateway: string,
  ) {
    this.rules = rules.map((rule) => ({ rule, local: compileTemplate(rule.local) }))
  }

  subscriptions(): Array<{ filter: string; qos: Qos }> {
    return this.rules.map((r) => ({ filter: r.rule.remoteFilter, qos: r.rule.qos }))
  }

  /** The local message for a message that came down, or null when no rule matches. */
  inbound(m: Message): Message | null {
    // Management traffic (pushed configs with their credentials, diagnostics) never reaches the LAN broker.
    if (isManagementTopic(m.topic)) return null
    const c = this.rules.find((r) => topicMatches(r.rule.remoteFilter, m.topic))
    if (!c) return null
    const topic = renderTemplate(c.local, stripPrefix(m.topic, c.rule.stripPrefix), this.gateway)
    if (topic === null) return null
    const retain = c.rule.retain === 'message' ? m.retain : c.rule.retain
    const out: Message = { topic, payload: m.payload, qos: m.qos, retain }
    if (m.properties) out.properties = m.properties
    if (m.receivedAt !== undefined) out.receivedAt = m.receivedAt
    return out
  }
}

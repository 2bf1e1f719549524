import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import { redactText, redactUrl } from '../../core/index.ts'

export type Json = Record<string, unknown>

/** How the operator reaches the cloud broker (flags of `fieldgate fleet`, or its TOML file). */
export interface BrokerOptions {
  /** mqtt://, mqtts://, ws:// or wss:// */
  url: string
  username?: string
  /** File holding the password (first line). */
  passwordFile?: string
  /** CA certificate(s) to trust, PEM; without it the system's CAs. */
  ca?: string
  /** Client certificate and key, PEM, for brokers that authenticate by certificate. */
  cert?: string
  key?: string
  protocolVersion?: 4 | 5
  clientId?: string
  /** Where replies come: `<replyPrefix>/<correlation>`. Default `ops/replies/<client id>`. */
  replyPrefix?: string
}

export interface GatewayMessage {
  id: string
  kind: 'event' | 'transfer'
  body: Json
}

const CONNECT_TIMEOUT_MS = 15_000

function readSecret(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n')[0]?.trim() ?? ''
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

/**
 * The operator's connection to the cloud broker: the retained inventories of every gateway, their
 * events and transfer progress, requests with replies (MQTT 5 Response Topic + Correlation Data, or the
 * 3.1.1 JSON fallback), and chunk publishing. It reconnects by itself (a broker restart mid-rollout).
 */
export class OperatorLink {
  readonly inventory = new Map<string, Json>()
  private readonly replies = new Map<string, (m: Json) => void>()
  private readonly listeners = new Set<(m: GatewayMessage) => void>()
  private inventoryAt = 0
  readonly replyPrefix: string
  /** The last connection error (after a broker restart, while reconnecting). */
  lastError: string | null = null

  private constructor(
    readonly client: MqttClient,
    readonly protocolVersion: 4 | 5,
    replyPrefix: string,
  ) {
    this.replyPrefix = replyPrefix
  }

  static async connect(o: BrokerOptions): Promise<OperatorLink> {
    const clientId = o.clientId ?? `fieldgate-fleet-${randomUUID().slice(0, 8)}`
    const version = o.protocolVersion ?? 5
    const options: IClientOptions = {
      protocolVersion: version,
      clientId,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.passwordFile !== undefined ? { password: readSecret(o.passwordFile, 'password file') } : {}),
      ...(o.ca !== undefined ? { ca: readFileSync(o.ca) } : {}),
      ...(o.cert !== undefined ? { cert: readFileSync(o.cert) } : {}),
      ...(o.key !== undefined ? { key: readFileSync(o.key) } : {}),
    }
    const client = connect(o.url, options)
    const link = new OperatorLink(client, version, o.replyPrefix ?? `ops/replies/${clientId}`)
    client.on('message', (topic, payload, packet) => link.onMessage(topic, payload, packet.properties?.correlationData))
    // MQTT.js resubscribes after a reconnect; the retained inventories come again then.
    await new Promise<void>((resolve, reject) => {
      let lastError = ''
      let failed = false
      const fail = (why: string): void => {
        if (failed) return
        failed = true
        client.end(true)
        reject(new Error(`cannot connect to ${redactUrl(o.url)}: ${why}`))
      }
      const timer = setTimeout(() => fail(lastError || `no answer within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS)
      // Before the first connection, any error ends it: a wrong address, port, certificate or password
      // does not get better by retrying. Later ones (a broker restart) are retried every second.
      const early = (err: Error): void => {
        lastError = redactText(err.message)
        clearTimeout(timer)
        fail(lastError)
      }
      client.once('error', early)
      client.on('error', (err) => {
        link.lastError = redactText(err.message)
      })
      client.once('connect', () => {
        client.off('error', early)
        clearTimeout(timer)
        const filters = { 'fieldgate/+/mgmt/inventory': { qos: 1 as const }, 'fieldgate/+/mgmt/events': { qos: 1 as const }, 'fieldgate/+/mgmt/transfer': { qos: 1 as const }, [`${link.replyPrefix}/#`]: { qos: 1 as const } }
        client.subscribe(filters, (err, granted) => {
          const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic) ?? []
          if (err || refused.length > 0) fail(`the broker refused the subscription to ${refused.join(', ') || Object.keys(filters).join(', ')}${err ? ` (${err.message})` : ''}; check its ACL for this user`)
          else resolve()
        })
      })
    })
    return link
  }

  get connected(): boolean {
    return this.client.connected
  }

  /** Waits until the retained inventories have arrived: no new one for `quietMs`, at most `maxMs`. */
  async settle(quietMs = 500, maxMs = 5000): Promise<void> {
    const start = Date.now()
    // Bounded by maxMs.
    while (Date.now() - start < maxMs) {
      await new Promise((r) => setTimeout(r, 100))
      if (Date.now() - Math.max(this.inventoryAt, start) >= quietMs) return
    }
  }

  onGateway(f: (m: GatewayMessage) => void): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }

  private onMessage(topic: string, payload: Buffer, correlation: Buffer | undefined): void {
    if (topic.startsWith(`${this.replyPrefix}/`)) {
      const body = parse(payload)
      const key = correlation?.toString() ?? (typeof body?.correlation_id === 'string' ? body.correlation_id : topic.slice(this.replyPrefix.length + 1))
      if (body) this.replies.get(key)?.(body)
      return
    }
    const parts = topic.split('/')
    if (parts.length !== 4 || parts[0] !== 'fieldgate' || parts[2] !== 'mgmt') return
    const id = parts[1] as string
    if (parts[3] === 'inventory') {
      this.inventoryAt = Date.now()
      const body = payload.length === 0 ? null : parse(payload)
      if (body) this.inventory.set(id, body)
      else this.inventory.delete(id)
      return
    }
    const body = parse(payload)
    if (!body) return
    const kind = parts[3] === 'events' ? 'event' : parts[3] === 'transfer' ? 'transfer' : null
    if (kind) for (const f of this.listeners) f({ id, kind, body })
  }

  /** One request to gateway `id`; rejects after `timeoutMs` without an answer. `corr` names it in the gateway's events. */
  request(id: string, op: string, body: Json, timeoutMs: number, corr: string = randomUUID()): Promise<Json> {
    const replyTo = `${this.replyPrefix}/${corr}`
    const answer = new Promise<Json>((resolve, reject) => {
      const t = setTimeout(() => {
        this.replies.delete(corr)
        reject(new Error(`no answer from ${id} to ${op} within ${Math.round(timeoutMs / 1000)} s`))
      }, timeoutMs)
      // A copy superseded by another (pushConfig) must not hold the command open until it times out.
      t.unref()
      this.replies.set(corr, (m) => {
        clearTimeout(t)
        this.replies.delete(corr)
        resolve(m)
      })
    })
    const topic = `fieldgate/${id}/mgmt/req/${op}`
    if (this.protocolVersion === 5) this.client.publish(topic, JSON.stringify(body), { qos: 1, properties: { responseTopic: replyTo, correlationData: Buffer.from(corr) } })
    else this.client.publish(topic, JSON.stringify({ ...body, reply_to: replyTo, correlation_id: corr }), { qos: 1 })
    return answer
  }

  /** Publishes at QoS 1 and resolves once the broker acknowledged it (or the connection dropped it: false). */
  publish(topic: string, payload: Buffer, timeoutMs = 30_000): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs)
      this.client.publish(topic, payload, { qos: 1, retain: false }, (err) => {
        clearTimeout(t)
        resolve(!err)
      })
    })
  }

  async close(): Promise<void> {
    await Promise.race([this.client.endAsync(false), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined)
    this.client.end(true)
  }
}

function parse(payload: Buffer): Json | null {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'))
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null
  } catch {
    return null
  }
}

import { randomUUID } from 'node:crypto'
import { connectAsync, type MqttClient } from 'mqtt'

export type Json = Record<string, unknown>

/** An operator on the cloud broker: watches inventories and events, sends requests, waits for replies. Every wait is bounded. */
export class Operator {
  readonly inventory = new Map<string, Json>()
  readonly events: Json[] = []
  private replies = new Map<string, (m: Json) => void>()

  private constructor(readonly client: MqttClient, readonly version: 4 | 5) {}

  static async connect(port: number, version: 4 | 5, auth: { username: string; password: string } | Record<string, never> = {}): Promise<Operator> {
    const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: version, clientId: `operator-${randomUUID().slice(0, 8)}`, reconnectPeriod: 0, ...auth })
    const op = new Operator(client, version)
    client.on('message', (topic, payload, packet) => op.onMessage(topic, payload, packet.properties?.correlationData))
    await client.subscribeAsync({ 'fieldgate/+/mgmt/inventory': { qos: 1 }, 'fieldgate/+/mgmt/events': { qos: 1 }, 'ops/replies/#': { qos: 1 } })
    return op
  }

  private onMessage(topic: string, payload: Buffer, correlation: Buffer | undefined): void {
    let body: Json
    try {
      body = JSON.parse(payload.toString()) as Json
    } catch {
      return
    }
    const parts = topic.split('/')
    if (parts[2] === 'mgmt' && parts[3] === 'inventory') this.inventory.set(parts[1] as string, body)
    else if (parts[2] === 'mgmt' && parts[3] === 'events') this.events.push(body)
    else if (topic.startsWith('ops/replies/')) {
      const key = correlation?.toString() ?? (typeof body.correlation_id === 'string' ? body.correlation_id : '')
      this.replies.get(key)?.({ ...body, _raw: payload.toString(), _topic: topic })
    }
  }

  /** One request; MQTT 5 uses Response Topic + Correlation Data, 3.1.1 the JSON body's reply_to and correlation_id. */
  request(id: string, op: string, fields: Json = {}, timeout = 60_000): Promise<Json> {
    const corr = randomUUID()
    const replyTo = `ops/replies/${corr}`
    const answer = new Promise<Json>((resolve, reject) => {
      const t = setTimeout(() => {
        this.replies.delete(corr)
        reject(new Error(`no reply to ${op} on ${id} within ${timeout} ms`))
      }, timeout)
      this.replies.set(corr, (m) => {
        clearTimeout(t)
        this.replies.delete(corr)
        resolve(m)
      })
    })
    const topic = `fieldgate/${id}/mgmt/req/${op}`
    if (this.version === 5) {
      const payload = typeof fields.config === 'string' && Object.keys(fields).length === 1 ? fields.config : JSON.stringify(fields)
      this.client.publish(topic, payload, { qos: 1, properties: { responseTopic: replyTo, correlationData: Buffer.from(corr) } })
    } else {
      this.client.publish(topic, JSON.stringify({ ...fields, reply_to: replyTo, correlation_id: corr }), { qos: 1 })
    }
    return answer
  }

  /** A request whose answer is not awaited (the gateway is about to be killed). */
  send(id: string, op: string, fields: Json): void {
    this.client.publish(`fieldgate/${id}/mgmt/req/${op}`, JSON.stringify({ ...fields, reply_to: 'ops/replies/unawaited' }), { qos: 1 })
  }

  async close(): Promise<void> {
    await this.client.endAsync()
  }
}

export interface RolloutStep {
  id: string
  /** committed, unchanged (an earlier attempt committed, its answer was lost), or what stopped the rollout. */
  state: string
  attempts: number
  reason?: string
  /** The gateway's own time from request to outcome (took_ms), when it answered. */
  tookMs?: number
}

/**
 * A rollout in waves of one, as an operator drives it by hand: push the config to each gateway in
 * turn and wait for its answer. A request that gets no answer within `timeout` (lost with a broker node
 * that stopped) is sent again, and a gateway still trying an earlier copy is asked again after a pause;
 * `unchanged` then means an earlier attempt committed. Stops at the first roll-back or refusal.
 * Bounded: at most `attempts` requests per gateway.
 */
export async function rollout(op: Operator, targets: Array<{ id: string; config: string }>, o: { attempts: number; timeout: number; sent?: (index: number) => Promise<void> | void }): Promise<RolloutStep[]> {
  const steps: RolloutStep[] = []
  for (const [i, t] of targets.entries()) {
    let step: RolloutStep = { id: t.id, state: 'no answer', attempts: 0 }
    for (let attempt = 1; attempt <= o.attempts; attempt++) {
      const answer = op.request(t.id, 'config', { config: t.config }, o.timeout).catch((err: unknown) => ({ state: 'no answer', reason: String(err) }) as Json)
      if (attempt === 1) await o.sent?.(i)
      const r = await answer
      step = { id: t.id, state: String(r.state), attempts: attempt, ...(r.reason === undefined ? {} : { reason: String(r.reason) }), ...(typeof r.took_ms === 'number' ? { tookMs: r.took_ms } : {}) }
      if (step.state === 'committed' || step.state === 'unchanged') break
      if (step.state === 'refused' && /another config is being tried/.test(step.reason ?? '')) await new Promise((r) => setTimeout(r, 1000))
      else if (step.state !== 'no answer') break
    }
    steps.push(step)
    if (step.state !== 'committed' && step.state !== 'unchanged') break
  }
  return steps
}

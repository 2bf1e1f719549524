import { connect, type MqttClient } from 'mqtt'
import { createUplink, type Uplink, type UplinkDeps, type UplinkOptions } from '../../src/bridge/index.ts'
import { uplinkSchema, type UplinkInput } from '../../src/config/sections/bridge.ts'
import { uplinkOptions } from '../../src/gateway/options/uplink.ts'
import { silentLogger, topicMatches, type InProcessSubscribeOptions, type LocalBroker, type Message, type Status } from '../../src/core/index.ts'
import { waitFor } from '../helpers/tmp.ts'

/**
 * A tiny in-process LocalBroker for bridge tests: routes publishes to in-process subscribers by filter,
 * honours noLocalOrigin, keeps retained messages. Only what the bridge uses; the real broker has its own tests.
 */
export class FakeLocalBroker implements LocalBroker {
  readonly published: Message[] = []
  readonly retained = new Map<string, Message>()
  private subs = new Set<{ filter: string; fn: (m: Message) => void | Promise<void>; opts: InProcessSubscribeOptions }>()

  async publish(m: Message): Promise<void> {
    this.published.push(m)
    if (m.retain) this.retained.set(m.topic, m)
    for (const s of [...this.subs]) {
      if (!topicMatches(s.filter, m.topic)) continue
      if (s.opts.noLocalOrigin !== undefined && s.opts.noLocalOrigin === m.origin) continue
      await s.fn(m)
    }
  }

  subscribe(filter: string, fn: (m: Message) => void | Promise<void>, opts: InProcessSubscribeOptions = {}): () => void {
    const s = { filter, fn, opts }
    this.subs.add(s)
    return () => this.subs.delete(s)
  }

  status(): Status {
    return { health: 'ok', details: {} }
  }

  async close(): Promise<void> {
    this.subs.clear()
  }
}

/** An uplink's options from config text (`[[uplinks]]` keys), through the gateway's mapping, with quick timings for tests. */
export function uplinkOptionsOf(input: Partial<UplinkInput> & { url: string }): UplinkOptions {
  return uplinkOptions(uplinkSchema.parse({ name: 'cloud', keepalive: '5s', connect_timeout: '2s', backoff: { min: '100ms', max: '1s' }, ...input }))
}

export function startUplink(input: Partial<UplinkInput> & { url: string }, local?: LocalBroker, gatewayId = 'gw1', extra: Partial<UplinkDeps> = {}): Uplink {
  const deps: UplinkDeps = { gatewayId, logger: silentLogger, stopTimeout: 1000, ...extra }
  if (local) deps.local = local
  const u = createUplink(uplinkOptionsOf(input), deps)
  u.start()
  return u
}

export async function waitOnline(u: Uplink, timeout = 8000): Promise<void> {
  await waitFor(() => u.online, timeout, 10, `uplink ${u.name} online`)
}

/** An MQTT.js client straight on the upstream broker, recording what it receives. */
export interface Watcher {
  client: MqttClient
  got: Array<{ topic: string; payload: string; retain: boolean; at: number; props: Record<string, unknown> | undefined }>
  close(): Promise<void>
}

export async function watch(port: number, filters: string[], opts: { protocolVersion?: 4 | 5 } = {}): Promise<Watcher> {
  const client = connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: opts.protocolVersion ?? 5, reconnectPeriod: 0, clientId: `watch-${Math.random().toString(36).slice(2)}` })
  const got: Watcher['got'] = []
  client.on('message', (topic, payload, packet) => {
    got.push({ topic, payload: payload.toString(), retain: packet.retain, at: Date.now(), props: packet.properties as Record<string, unknown> | undefined })
  })
  client.on('error', () => undefined)
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  if (filters.length > 0) await client.subscribeAsync(filters, { qos: 1 })
  return { client, got, close: () => client.endAsync(true) }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** waitFor for a value that may be missing: resolves with the value once present. */
export async function waitForValue<T>(fn: () => T | undefined | null, timeout = 5000, what = 'value'): Promise<T> {
  let v: T | undefined | null
  await waitFor(() => (v = fn()) !== undefined && v !== null, timeout, 10, what)
  return v as T
}

import { connect as netConnect, type Socket } from 'node:net'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { brokerSchema } from '../../src/config/sections/broker.ts'
import type { Clock } from '../../src/core/clock.ts'
import { silentLogger, type Logger } from '../../src/core/logger.ts'
import type { RetainedStore, SessionStore } from '../../src/core/persistence.ts'
import { createBroker, type Broker, type BrokerHooks } from '../../src/broker/index.ts'
import { brokerSettings } from '../../src/gateway/options/broker.ts'
import { freePort } from '../helpers/ports.ts'

export interface TestBroker {
  broker: Broker
  port: number
  url: string
  close(): Promise<void>
}

export interface StartOptions {
  limits?: Record<string, unknown>
  sysInterval?: number
  hooks?: BrokerHooks
  sessions?: SessionStore
  retained?: RetainedStore
  logger?: Logger
  clock?: Clock
  version?: string
}

/** A broker on a free loopback port with the given limits; closes every MQTT.js client made through `client()`. */
export async function startBroker(opts: StartOptions = {}): Promise<TestBroker> {
  const port = await freePort()
  const config = brokerSchema.parse({
    listeners: [{ protocol: 'mqtt', host: '127.0.0.1', port }],
    sys_interval: opts.sysInterval ?? 0,
    limits: opts.limits ?? {},
  })
  const broker = await createBroker({
    ...brokerSettings(config),
    logger: opts.logger ?? silentLogger,
    gatewayId: 'test-gw',
    ...(opts.hooks ? { hooks: opts.hooks } : {}),
    ...(opts.sessions ? { sessions: opts.sessions } : {}),
    ...(opts.retained ? { retained: opts.retained } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.version === undefined ? {} : { version: opts.version }),
  })
  await broker.listen()
  return { broker, port, url: `mqtt://127.0.0.1:${port}`, close: () => broker.close() }
}

/** Connects an MQTT.js client and waits for CONNACK (rejects on error). Reconnect is off unless asked. */
export function connectClient(port: number, opts: IClientOptions = {}, beforeConnect?: (c: MqttClient) => void): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect({ host: '127.0.0.1', port, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    beforeConnect?.(c)
    const onError = (err: Error): void => {
      c.end(true)
      reject(err)
    }
    c.once('connect', () => {
      c.off('error', onError)
      resolve(c)
    })
    c.once('error', onError)
  })
}

export function endClient(c: MqttClient, force = false): Promise<void> {
  return new Promise((resolve) => c.end(force, {}, () => resolve()))
}

export interface Received {
  topic: string
  payload: string
  packet: mqtt.IPublishPacket
}

/** Collects messages a client receives. */
export function collect(c: MqttClient): Received[] {
  const got: Received[] = []
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), packet }))
  return got
}

/** Raw TCP socket with a byte collector, for hand-made packets. */
export async function rawSocket(port: number): Promise<{ socket: Socket; data: () => Buffer; closed: Promise<void> }> {
  const socket = netConnect({ port, host: '127.0.0.1' })
  const chunks: Buffer[] = []
  socket.on('data', (d: Buffer) => chunks.push(d))
  socket.on('error', () => undefined)
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  return { socket, data: () => Buffer.concat(chunks), closed }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Connect and start collecting before CONNACK, so messages sent right after it (a resumed session) are seen. */
export async function connectCollect(port: number, opts: IClientOptions = {}): Promise<{ client: MqttClient; got: Received[] }> {
  let got: Received[] = []
  const client = await connectClient(port, opts, (c) => {
    got = collect(c)
  })
  return { client, got }
}

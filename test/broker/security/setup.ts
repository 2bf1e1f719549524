import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { createSecurity, type Security } from '../../../src/broker/auth/index.ts'
import { createBroker, type Broker } from '../../../src/broker/index.ts'
import type { BrokerOptions } from '../../../src/broker/types.ts'
import type { ConnectionInfo } from '../../../src/broker/hooks.ts'
import { startListener, type StartedListener } from '../../../src/broker/listeners/index.ts'
import type { GuardOptions } from '../../../src/broker/auth/guard.ts'
import type { HashProbe } from '../../../src/broker/auth/passwords.ts'
import type { z } from 'zod'
import { brokerSchema, listenerSchema, type BrokerConfig } from '../../../src/config/sections/broker.ts'
import type { Logger, LogFn } from '../../../src/core/logger.ts'
import { tempDir } from '../../helpers/tmp.ts'
import { brokerSettings, listenerOptions } from '../../../src/gateway/options/broker.ts'

export interface LogRecord {
  level: string
  msg: string
  obj: Record<string, unknown>
}

/** A Logger that keeps what it is given, so tests can check what was (and was not) logged. */
export function captureLogger(records: LogRecord[] = [], bindings: Record<string, unknown> = {}): Logger {
  const fn =
    (level: string): LogFn =>
    (a: Record<string, unknown> | string, b?: string) => {
      if (typeof a === 'string') records.push({ level, msg: a, obj: { ...bindings } })
      else records.push({ level, msg: b ?? '', obj: { ...bindings, ...a } })
    }
  return {
    trace: fn('trace'),
    debug: fn('debug'),
    info: fn('info'),
    warn: fn('warn'),
    error: fn('error'),
    fatal: fn('fatal'),
    child: (more) => captureLogger(records, { ...bindings, ...more }),
  }
}

export interface SecureBroker {
  broker: Broker
  security: Security
  /** Bound ports, in the order of `listeners`. */
  ports: number[]
  dir: string
  logs: LogRecord[]
  write(name: string, text: string): string
  close(): Promise<void>
}

export interface SecureBrokerOptions {
  listeners: Array<z.input<typeof listenerSchema>>
  /** File contents written to the temp dir and configured; null leaves the key unset. */
  passwords?: string
  tokens?: string
  acl?: string
  auth?: Partial<BrokerConfig['auth']>
  limits?: Partial<BrokerConfig['limits']>
  handshakeTimeout?: number
  /** Login backoff tuning; tests default to no delays so unrelated failures do not slow them. */
  guard?: Partial<GuardOptions>
  /** Watches password hashes start (+1) and end (-1). */
  hashProbe?: HashProbe
  /** Persistent sessions and retained messages (e.g. a LevelDB store's); in memory when not given. */
  stores?: Pick<BrokerOptions, 'sessions' | 'retained'>
}

/** A broker with createSecurity hooks and the given listeners on free loopback ports (port 0). */
export async function startSecureBroker(opts: SecureBrokerOptions): Promise<SecureBroker> {
  const { dir, cleanup } = tempDir('fieldgate-sec-')
  const write = (name: string, text: string): string => {
    const file = join(dir, name)
    writeFileSync(file, text, { mode: 0o600 })
    return file
  }
  const auth: Record<string, unknown> = { ...opts.auth }
  if (opts.passwords !== undefined) auth.password_file = write('passwords', opts.passwords)
  if (opts.tokens !== undefined) auth.tokens_file = write('tokens', opts.tokens)
  if (opts.acl !== undefined) auth.acl_file = write('acl.toml', opts.acl)
  const config = brokerSchema.parse({
    listeners: opts.listeners.map((l) => ({ host: '127.0.0.1', port: 0, ...l })),
    limits: { connect_timeout: 2000, ...opts.limits },
    auth,
  })
  const logs: LogRecord[] = []
  const logger = captureLogger(logs)
  const security = await createSecurity(brokerSettings(config), logger, undefined, { guard: opts.guard ?? { delayAfter: 1_000_000 }, ...(opts.hashProbe ? { hashProbe: opts.hashProbe } : {}) })
  const broker = await createBroker({ ...brokerSettings({ ...config, listeners: [] }), logger, gatewayId: 'test', hooks: security, ...opts.stores })
  const started: StartedListener[] = []
  const onConnection = (stream: Duplex, info: ConnectionInfo): void => broker.handleConnection(stream, info)
  const secure = opts.handshakeTimeout === undefined ? {} : { handshakeTimeout: opts.handshakeTimeout }
  for (const [i, l] of config.listeners.entries()) started.push(await startListener(listenerOptions(l), i, onConnection, logger, secure))
  return {
    broker,
    security,
    ports: started.map((s) => s.port),
    dir,
    logs,
    write,
    async close() {
      // A TCP listener's close waits for its connections, which only broker.close() ends.
      const closing = started.map((s) => s.close())
      security.close()
      await broker.close()
      await Promise.all(closing)
      cleanup()
    },
  }
}

export type ConnectOutcome = { client: MqttClient; code: 0 } | { client: null; code: number; message: string }

/** Connects once (no reconnect) and reports the CONNACK code: 0 with the client, or the refusal code. */
export function tryConnect(url: string, opts: IClientOptions = {}): Promise<ConnectOutcome> {
  return new Promise((resolve) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 8000, ...opts })
    const done = (o: ConnectOutcome): void => {
      client.removeAllListeners('connect')
      resolve(o)
    }
    client.once('connect', () => done({ client, code: 0 }))
    client.once('error', (err: Error & { code?: unknown }) => {
      client.end(true)
      done({ client: null, code: typeof err.code === 'number' ? err.code : -1, message: err.message })
    })
    client.once('close', () => {
      if (!client.connected) done({ client: null, code: -1, message: 'closed before CONNACK' })
    })
  })
}

export async function connectOk(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const r = await tryConnect(url, opts)
  if (r.client === null) throw new Error(`expected ${url} to accept ${String(opts.clientId)}, got code ${r.code}: ${r.message}`)
  return r.client
}

/** SUBACK codes for a subscribe, whether granted or refused (MQTT.js rejects when any is a failure). */
export async function subackCodes(c: MqttClient, subs: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  try {
    return (await c.subscribeAsync(subs)).map((g) => g.qos)
  } catch (err) {
    const packet: unknown = (err as { packet?: unknown }).packet
    if (typeof packet === 'object' && packet !== null && 'granted' in packet && Array.isArray(packet.granted)) return packet.granted.map(Number)
    throw err
  }
}

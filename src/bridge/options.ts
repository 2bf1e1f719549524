import { readFileSync } from 'node:fs'
import type { IClientOptions } from 'mqtt'
import { FieldgateError, errorMessage, splitCredentials } from '../core/index.ts'
import type { UplinkOptions } from './uplink-options.ts'

export type ReadFile = (path: string) => Buffer

/** Topics an uplink uses besides its rules. */
export interface UplinkTopics {
  clientId: string
  statusTopic: string
  birthTopic: string
  probeTopic: string
}

export function uplinkTopics(cfg: UplinkOptions, gatewayId: string): UplinkTopics {
  const statusTopic = cfg.will.topic ?? `fieldgate/${gatewayId}/status`
  return {
    clientId: cfg.clientId ?? `${gatewayId}-${cfg.name}`,
    statusTopic,
    birthTopic: cfg.birth.topic ?? statusTopic,
    probeTopic: cfg.probe.topic ?? `fieldgate/${gatewayId}/probe/${cfg.name}`,
  }
}

/**
 * The URL to give MQTT.js, with a user name and password in it moved into `opts` (they win over the
 * configured ones, as MQTT.js would have it). MQTT.js splits user info with url.parse, which cuts a password
 * holding a raw '@', '/' or '#' in the wrong place and makes Node print the whole URL in a warning.
 */
export function urlWithOptions(server: string, opts: IClientOptions): string {
  const { url, username, password } = splitCredentials(server)
  if (username !== undefined) opts.username = username
  if (password !== undefined) opts.password = password
  return url
}

/** Every server to try, in turn: url first, then the failover list. */
export function serverList(cfg: UplinkOptions): string[] {
  return [cfg.url, ...cfg.servers.filter((s) => s !== cfg.url)]
}

/**
 * MQTT.js options for one connection attempt. Files (password, certificates) are read here, on every
 * attempt, so rotated credentials are picked up without a restart. Reconnects are ours: reconnectPeriod 0.
 */
export function clientOptions(cfg: UplinkOptions, gatewayId: string, readFile: ReadFile = readFileSync): IClientOptions {
  const t = uplinkTopics(cfg, gatewayId)
  const opts: IClientOptions = {
    clientId: t.clientId,
    protocolVersion: cfg.protocolVersion,
    clean: cfg.clean,
    keepalive: Math.ceil(cfg.keepalive / 1000),
    connectTimeout: cfg.connectTimeout,
    reconnectPeriod: 0,
    resubscribe: false,
    queueQoSZero: false,
    // Our traffic keeps the link busy; re-arming the ping timer on every packet costs more than a ping.
    reschedulePings: false,
    // MQTT.js logs through `debug` on every packet; checking whether it is enabled is measurable at 100k msg/s.
    log: () => undefined,
    will: {
      topic: t.statusTopic,
      payload: Buffer.from(cfg.will.payload),
      qos: cfg.will.qos,
      retain: cfg.will.retain,
    },
  }
  if (cfg.protocolVersion === 5 && cfg.sessionExpiry > 0) {
    opts.properties = { sessionExpiryInterval: Math.min(0xffffffff, Math.ceil(cfg.sessionExpiry / 1000)) }
  }
  if (cfg.username !== undefined) opts.username = cfg.username
  // An explicit password (the environment override) wins over the file.
  if (cfg.password !== undefined) opts.password = cfg.password
  else if (cfg.passwordFile !== undefined) opts.password = firstLine(read(readFile, cfg, 'password_file', cfg.passwordFile))
  const tls = cfg.tls
  if (tls) {
    if (tls.caFile !== undefined) opts.ca = read(readFile, cfg, 'tls.ca_file', tls.caFile)
    if (tls.certFile !== undefined) opts.cert = read(readFile, cfg, 'tls.cert_file', tls.certFile)
    if (tls.keyFile !== undefined) opts.key = read(readFile, cfg, 'tls.key_file', tls.keyFile)
    if (tls.passphraseFile !== undefined) {
      ;(opts as IClientOptions & { passphrase?: string }).passphrase = firstLine(read(readFile, cfg, 'tls.passphrase_file', tls.passphraseFile))
    }
    opts.rejectUnauthorized = tls.rejectUnauthorized
    if (tls.servername !== undefined) opts.servername = tls.servername
  } else {
    opts.rejectUnauthorized = true
  }
  return opts
}

function read(readFile: ReadFile, cfg: UplinkOptions, key: string, path: string): Buffer {
  try {
    return readFile(path)
  } catch (err) {
    throw new FieldgateError(
      'BRIDGE_CONNECT_FAILED',
      `uplink "${cfg.name}": cannot read ${key} "${path}" (${errorMessage(err)}); check the path and its permissions`,
      { cause: err, details: { uplink: cfg.name, key, path } },
    )
  }
}

function firstLine(b: Buffer): string {
  return (b.toString('utf8').split(/\r?\n/)[0] ?? '').trim()
}

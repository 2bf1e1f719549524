import type { Qos } from '../core/index.ts'

/** Local -> cloud: the first rule whose filter matches a message decides its topic, QoS, retain and format. */
export interface ForwardRule {
  /** Local MQTT topic filter this rule forwards. */
  filter: string
  /**
   * Remote topic template: {topic} (the local topic after `stripPrefix`), {gateway}, and {1}, {2}... (the
   * local topic's levels, 1-based); without placeholders a fixed topic.
   */
  remote: string
  /** Removed from the start of the local topic before {topic} is filled in. */
  stripPrefix?: string | undefined
  /** A fixed QoS, or 'message' to keep each message's. */
  qos: Qos | 'message'
  /** A fixed retain flag, or 'message' to keep each message's. */
  retain: boolean | 'message'
  /** 'raw' sends the payload as it is; 'envelope' wraps it in JSON with topic, client, QoS, time, properties and `metadata`. */
  format: 'raw' | 'envelope'
  /** Extra key/values put into the envelope. */
  metadata: Record<string, string>
}

/** Cloud -> local: the first rule whose remote filter matches a message from the cloud. */
export interface DownlinkRule {
  /** Topic filter subscribed on the cloud broker. */
  remoteFilter: string
  /** Local topic template: {topic} (the remote topic after `stripPrefix`), {gateway}, {1}, {2}... */
  local: string
  /** Removed from the start of the remote topic before {topic} is filled in. */
  stripPrefix?: string | undefined
  /** Subscription QoS on the cloud broker. */
  qos: Qos
  /** Retain flag of the local publish: fixed, or 'message' to keep the remote one. */
  retain: boolean | 'message'
}

/** TLS towards the cloud broker. Files are read on every connection attempt, so rotated ones are picked up. */
export interface UplinkTlsOptions {
  /** PEM CA bundle trusted for the server; the system CAs without it. */
  caFile?: string | undefined
  /** PEM client certificate for mutual TLS (with `keyFile`). */
  certFile?: string | undefined
  keyFile?: string | undefined
  /** File whose first line is the key's passphrase. */
  passphraseFile?: string | undefined
  /** Verify the server's certificate chain and name. */
  rejectUnauthorized: boolean
  /** Name sent in SNI and checked against the certificate; the URL's host without it. */
  servername?: string | undefined
}

/** The Will or the birth message on the gateway's status topic. */
export interface StatusMessage {
  /** `fieldgate/<gateway id>/status` when not given (the birth message: the Will's topic). */
  topic?: string | undefined
  payload: string
  qos: Qos
  retain: boolean
}

/** One uplink to a cloud broker, as `createUplink` takes it. Durations are in ms. */
export interface UplinkOptions {
  /** Short name used in logs, status and `$SYS/fieldgate/bridge/<name>`. */
  name: string
  /** First server to try (mqtt, mqtts, ws or wss URL; user info in it is moved out of the URL). */
  url: string
  /** Further servers tried in turn after `url` (failover). */
  servers: string[]
  /** MQTT client id; `<gateway id>-<name>` when not given. */
  clientId?: string | undefined
  /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
  protocolVersion: 4 | 5
  /** Clean start (v5) / clean session (3.1.1). */
  clean: boolean
  /** v5 session expiry after a disconnect; 0 = none. */
  sessionExpiry: number
  username?: string | undefined
  /** File whose first line is the password; read on every attempt. */
  passwordFile?: string | undefined
  /** A password given directly; wins over `passwordFile`. */
  password?: string | undefined
  tls?: UplinkTlsOptions | undefined
  /** MQTT keep-alive (sent in whole seconds); 0 turns it off. */
  keepalive: number
  /** Longest wait from opening the socket to CONNACK, and for the subscriptions and birth message after it. */
  connectTimeout: number
  /** Decorrelated-jitter reconnect delay between min and max. */
  backoff: { min: number; max: number }
  /** Last Will, fired by the cloud broker when the link dies. */
  will: StatusMessage
  /** Published after every connect. */
  birth: StatusMessage
  forward: ForwardRule[]
  downlink: DownlinkRule[]
  /** Round-trip probe that finds a half-open link; interval 0 turns it off. Topic `fieldgate/<gateway id>/probe/<name>` when not given. */
  probe: { interval: number; timeout: number; topic?: string | undefined }
}

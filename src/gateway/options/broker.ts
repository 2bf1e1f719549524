import type { AuthOptions, BrokerLimits, BrokerSettings, ListenerOptions, ListenerTlsOptions } from '../../broker/index.ts'
import type { BrokerConfig, ListenerConfig } from '../../config/index.ts'

/** `[broker]` as the broker (`createBroker`) and its security layer (`createSecurity`) take it. */
export function brokerSettings(c: BrokerConfig): BrokerSettings {
  return {
    listeners: c.listeners.map(listenerOptions),
    sysInterval: c.sys_interval,
    limits: limitOptions(c.limits),
    auth: authOptions(c.auth),
  }
}

/** One `[[broker.listeners]]` entry. The same entry always maps to deeply equal options (a reload keeps unchanged listeners by that). */
export function listenerOptions(l: ListenerConfig): ListenerOptions {
  return {
    name: l.name,
    protocol: l.protocol,
    host: l.host,
    port: l.port,
    path: l.path,
    allowAnonymous: l.allow_anonymous,
    tls: l.tls === undefined ? undefined : tlsOptions(l.tls),
  }
}

function tlsOptions(t: NonNullable<ListenerConfig['tls']>): ListenerTlsOptions {
  return {
    certFile: t.cert_file,
    keyFile: t.key_file,
    caFile: t.ca_file,
    passphraseFile: t.passphrase_file,
    requireClientCert: t.require_client_cert,
    useCnAsUsername: t.use_cn_as_username,
    crlFile: t.crl_file,
    minVersion: t.min_tls_version,
    ciphers: t.ciphers,
  }
}

function limitOptions(l: BrokerConfig['limits']): BrokerLimits {
  return {
    maxConnections: l.max_connections,
    maxPendingPerAddress: l.max_pending_per_address,
    maxConnectionsPerAddress: l.max_connections_per_address,
    perAddressExempt: [...l.per_address_exempt],
    connectTimeout: l.connect_timeout,
    maxPacketSize: l.max_packet_size,
    maxInflight: l.max_inflight,
    maxQueuedMessages: l.max_queued_messages,
    maxQueuedBytes: l.max_queued_bytes,
    publishRate: l.publish_rate,
    publishBurst: l.publish_burst,
    maxSubscriptions: l.max_subscriptions,
    maxTopicLength: l.max_topic_length,
    maxTopicLevels: l.max_topic_levels,
    maxKeepalive: l.max_keepalive,
    maxSessionExpiry: l.max_session_expiry,
    maxRetained: l.max_retained,
  }
}

function authOptions(a: BrokerConfig['auth']): AuthOptions {
  return {
    passwordFile: a.password_file,
    tokensFile: a.tokens_file,
    aclFile: a.acl_file,
    lockoutFailures: a.lockout_failures,
    failureWindow: a.failure_window,
    maxPasswordChecks: a.max_password_checks,
    maxWaitingLoginsPerAddress: a.max_waiting_logins_per_address,
  }
}

/** The broker's limits. Sizes in bytes, durations in ms; for the counts marked so, 0 means no limit. */
export interface BrokerLimits {
  /** Open connections at most; at the limit the oldest one still awaiting CONNECT is closed to make room. */
  maxConnections: number
  /** Connections from one address still in TLS, WebSocket upgrade or CONNECT (0: no limit). */
  maxPendingPerAddress: number
  /** Connections from one address (0: no limit). */
  maxConnectionsPerAddress: number
  /** Addresses the two per-address limits do not apply to. */
  perAddressExempt: string[]
  /** From accepting a socket to CONNECT (and its authentication); TLS handshakes and WebSocket upgrades too. */
  connectTimeout: number
  /** Largest packet accepted (CONNACK's Maximum Packet Size). */
  maxPacketSize: number
  /** Unacknowledged QoS 1/2 publishes per direction (CONNACK's Receive Maximum, and the outbound window). */
  maxInflight: number
  /** Messages queued per session (0: no limit). */
  maxQueuedMessages: number
  /** Bytes queued per session, and a QoS 0 socket backlog beyond which QoS 0 is dropped (0: no limit). */
  maxQueuedBytes: number
  /** Publishes per second per client (0: no limit), with `publishBurst` above it. */
  publishRate: number
  publishBurst: number
  /** Subscriptions per session (0: no limit). */
  maxSubscriptions: number
  maxTopicLength: number
  maxTopicLevels: number
  /** Longest keep-alive in s (0: no limit): 3.1.1 clients asking more are refused, v5 clients get Server Keep Alive. */
  maxKeepalive: number
  /** Longest session expiry; 3.1.1 persistent sessions expire after it. */
  maxSessionExpiry: number
  /** Retained topics (0: no limit). */
  maxRetained: number
}

/** A TLS or WSS listener's certificates and policy. Files are re-read on `Security.reload()` (certificate rotation). */
export interface ListenerTlsOptions {
  /** PEM server certificate (chain). */
  certFile: string
  /** PEM private key. */
  keyFile: string
  /** PEM CA bundle that client certificates are verified against; needed by the three options below it. */
  caFile?: string | undefined
  /** File whose content (one line) is the key's passphrase. */
  passphraseFile?: string | undefined
  /** Refuse clients without a certificate the CA signed (mutual TLS). */
  requireClientCert: boolean
  /** A verified client certificate's CN becomes the user name. */
  useCnAsUsername: boolean
  /** PEM CRL(s) from the CA(s) in `caFile`: a revoked client certificate is refused. */
  crlFile?: string | undefined
  /** Oldest TLS version accepted. */
  minVersion: 'TLSv1.2' | 'TLSv1.3'
  /** OpenSSL cipher list (TLS 1.3 suites are the names starting with TLS_). */
  ciphers: string
}

/** One listener. Two listeners are the same (a reload keeps it and its clients) when their options are deeply equal. */
export interface ListenerOptions {
  /** Shown in logs and status; `<protocol>-<index>` when not given. */
  name?: string | undefined
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss'
  host: string
  /** 0 binds a free port (`listen()` says which). */
  port: number
  /** WebSocket path (ws, wss). */
  path: string
  /** Anonymous clients; when not given, allowed only on a loopback-bound listener (as Mosquitto 2). */
  allowAnonymous?: boolean | undefined
  /** Needed by mqtts and wss. */
  tls?: ListenerTlsOptions | undefined
}

/** What `createSecurity` checks logins against and how it throttles them. Durations in ms. */
export interface AuthOptions {
  /** Mosquitto-style `user:hash` lines (`fieldgate passwd`). */
  passwordFile?: string | undefined
  /** `TOKEN DEVICE_ID` lines; a device logs in with user name `Token` and its token as the password. */
  tokensFile?: string | undefined
  /** TOML ACL rules; without it every client may publish and subscribe everywhere but `$SYS`. */
  aclFile?: string | undefined
  /** Failed logins from one address within `failureWindow` before it is refused outright (delays from the 3rd). */
  lockoutFailures: number
  failureWindow: number
  /** Password hashes (scrypt, 16 MiB each) computed at once; keep below libuv's thread pool, which the store's writes share. */
  maxPasswordChecks: number
  /** Logins from one address waiting for a password check; more are refused at once with "server busy". */
  maxWaitingLoginsPerAddress: number
}

/** Everything the broker and its security layer take from the gateway (the `[broker]` section, mapped). */
export interface BrokerSettings {
  listeners: ListenerOptions[]
  /** How often `$SYS` statistics are published, in ms; 0 turns them off. */
  sysInterval: number
  limits: BrokerLimits
  auth: AuthOptions
}

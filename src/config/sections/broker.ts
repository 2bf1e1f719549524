import * as z from 'zod'
import { createSecureContext } from 'node:tls'
import { byteSize, duration, port } from './common.ts'

/** Forward-secret AEAD suites only: no static-RSA key exchange, no CBC, no SHA-1 MACs. */
export const DEFAULT_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

/** Why OpenSSL would refuse this cipher list (or it would leave no suite for the minimum version), or null. */
function cipherProblem(ciphers: string, minVersion: 'TLSv1.2' | 'TLSv1.3'): string | null {
  const names = ciphers.split(':').map((c) => c.trim()).filter((c) => c !== '')
  if (minVersion === 'TLSv1.3' && !names.some((c) => c.startsWith('TLS_'))) {
    return 'with min_tls_version = "TLSv1.3" the list needs a TLS 1.3 suite (e.g. TLS_AES_128_GCM_SHA256)'
  }
  try {
    createSecureContext({ ciphers, minVersion })
    return null
  } catch (err) {
    return `OpenSSL accepts none of these ciphers (${(err as Error).message}); see \`openssl ciphers -v\``
  }
}

export const listenerSchema = z
  .object({
    name: z.string().min(1).optional(),
    protocol: z.enum(['mqtt', 'mqtts', 'ws', 'wss']).default('mqtt'),
    host: z.string().default('127.0.0.1'),
    port: port.default(1883),
    /** WebSocket path. */
    path: z.string().startsWith('/').default('/mqtt'),
    /** Anonymous clients: default true only on loopback-bound listeners (as Mosquitto 2 does). */
    allow_anonymous: z.boolean().optional(),
    tls: z
      .object({
        cert_file: z.string(),
        key_file: z.string(),
        ca_file: z.string().optional(),
        passphrase_file: z.string().optional(),
        require_client_cert: z.boolean().default(false),
        use_cn_as_username: z.boolean().default(false),
        /**
         * PEM certificate revocation list(s) from the CA(s) in ca_file (`openssl ca -gencrl`): a revoked client
         * certificate is refused (or, without require_client_cert, gives no identity). Re-read on reload.
         * It must hold a current CRL of every CA that issues client certificates, else every certificate is refused.
         */
        crl_file: z.string().optional(),
        /** Oldest TLS version accepted: "TLSv1.2" or "TLSv1.3". */
        min_tls_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
        /**
         * OpenSSL cipher list; TLS 1.3 suites are the names starting with TLS_. The default allows only
         * forward-secret AEAD suites: TLS 1.3's three, and ECDHE with AES-GCM or ChaCha20-Poly1305 for TLS 1.2.
         */
        ciphers: z.string().min(1).default(DEFAULT_CIPHERS),
      })
      .strict()
      .superRefine((t, ctx) => {
        if (t.crl_file !== undefined && t.ca_file === undefined) {
          ctx.addIssue({ code: 'custom', path: ['crl_file'], message: 'needs tls.ca_file (the CA whose revocations it lists) to check client certificates against' })
        }
        const problem = cipherProblem(t.ciphers, t.min_tls_version)
        if (problem) ctx.addIssue({ code: 'custom', path: ['ciphers'], message: problem })
      })
      .optional(),
  })
  .strict()

export const brokerSchema = z
  .object({
    listeners: z.array(listenerSchema).default([{ protocol: 'mqtt', host: '127.0.0.1', port: 1883, path: '/mqtt' }]),
    sys_interval: duration.default(10_000),
    limits: z
      .object({
        /**
         * Open client connections at most. When it is reached, the oldest connection still awaiting CONNECT
         * (or its authentication) is closed to make room, so idle sockets cannot lock devices out; only
         * connected clients are never displaced.
         */
        max_connections: z.number().int().positive().default(10_000),
        /**
         * Connections from one address that have not finished CONNECT, TLS handshakes and WebSocket upgrades
         * included (0 = no limit). Devices get through within milliseconds; more than this from one host is a
         * scan, a leak or an attack, and is refused at once.
         */
        max_pending_per_address: z.number().int().nonnegative().default(16),
        /** Connections from one address (0 = no limit). High enough for a NAT router with many devices behind it. */
        max_connections_per_address: z.number().int().nonnegative().default(1000),
        /**
         * Addresses the two per-address limits do not apply to. Loopback is the gateway itself: its own
         * apps may hold many clients, and whoever can open sockets there already controls the gateway.
         */
        per_address_exempt: z.array(z.string().min(1)).default(['127.0.0.1', '::1']),
        connect_timeout: duration.default(10_000),
        max_packet_size: byteSize.default(1_048_576),
        max_inflight: z.number().int().min(1).max(65535).default(64),
        max_queued_messages: z.number().int().nonnegative().default(1000),
        max_queued_bytes: byteSize.default(16_000_000),
        publish_rate: z.number().nonnegative().default(0),
        publish_burst: z.number().int().nonnegative().default(0),
        max_subscriptions: z.number().int().nonnegative().default(1000),
        max_topic_length: z.number().int().positive().max(65535).default(1024),
        max_topic_levels: z.number().int().positive().default(32),
        max_keepalive: z.number().int().min(0).max(65535).default(65535),
        max_session_expiry: duration.default(7 * 86_400_000),
        max_retained: z.number().int().nonnegative().default(100_000),
      })
      .strict()
      .prefault({}),
    auth: z
      .object({
        password_file: z.string().optional(),
        tokens_file: z.string().optional(),
        acl_file: z.string().optional(),
        /** Failed logins from one address within failure_window before it is refused outright (answers are delayed from the 3rd). Logins still being checked count too, so parallel guesses cannot run past it (a success is then not counted). */
        lockout_failures: z.number().int().positive().default(30),
        failure_window: duration.default(600_000),
        /** Password hashes (scrypt, 16 MiB each) computed at once; one address gets one at a time. Keep it below libuv's thread pool (4 threads, UV_THREADPOOL_SIZE), which the store's disk writes share, so a login storm cannot delay durable acknowledgements. */
        max_password_checks: z.number().int().positive().max(64).default(2),
        /** Logins from one address waiting for a password check; more are refused at once with "server busy" (v5 0x89, 3.1.1 return code 3) and the client retries. */
        max_waiting_logins_per_address: z.number().int().nonnegative().max(1000).default(4),
      })
      .strict()
      .prefault({}),
  })
  .strict()

export type BrokerConfig = z.infer<typeof brokerSchema>
export type ListenerConfig = z.infer<typeof listenerSchema>

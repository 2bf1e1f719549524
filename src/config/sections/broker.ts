import { z } from 'zod'
import { byteSize, duration, port } from './common.ts'

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
      })
      .strict()
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
         * Connections from one address that have not finished CONNECT (0 = no limit). Devices send CONNECT
         * within milliseconds; more than this from one host is a scan, a leak or an attack, and is refused at once.
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

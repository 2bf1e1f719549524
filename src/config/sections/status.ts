import * as z from 'zod'
import { byteSize, duration, port } from './common.ts'

export const statusSchema = z
  .object({
    enabled: z.boolean().default(true),
    /**
     * Loopback by default (then only requests whose Host header is localhost, 127.0.0.1, [::1] or this host
     * are answered, against DNS rebinding). Any other address (0.0.0.0 and :: too) needs token_file,
     * basic_auth or allow_anonymous.
     */
    host: z.string().default('127.0.0.1'),
    port: port.default(8080),
    /** Bearer token read from this file; when set, every endpoint but /healthz needs it. */
    token_file: z.string().optional(),
    /** HTTP basic auth; the password file holds the password on its first line. */
    basic_auth: z.object({ username: z.string().min(1), password_file: z.string() }).strict().optional(),
    /**
     * Serve the page on a non-loopback host without token_file or basic_auth: anyone who can reach the
     * address reads it (and, with allow_reload, reloads the config). Without this such a config is refused.
     */
    allow_anonymous: z.boolean().default(false),
    /** Lets an authorised POST /reload (the page's reload button) re-read the config. */
    allow_reload: z.boolean().default(false),
    /** Comment line sent on idle /events streams so proxies and phones keep them open. */
    heartbeat: duration.default(15_000),
    /** Concurrent /events clients; more get 503. */
    max_event_clients: z.number().int().positive().max(1000).default(16),
    /** Bytes a slow /events client may have unsent before it is dropped. */
    event_buffer: byteSize.default(256_000),
  })
  .strict()

export type StatusConfig = z.infer<typeof statusSchema>

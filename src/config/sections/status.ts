import { z } from 'zod'
import { port } from './common.ts'

export const statusSchema = z
  .object({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1'),
    port: port.default(8080),
    /** Bearer token read from this file; when set, every endpoint but /healthz needs it. */
    token_file: z.string().optional(),
    basic_auth: z.object({ username: z.string(), password_file: z.string() }).strict().optional(),
    allow_reload: z.boolean().default(false),
  })
  .strict()

export type StatusConfig = z.infer<typeof statusSchema>

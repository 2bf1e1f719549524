import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse as parseToml, TomlError } from 'smol-toml'
import * as z from 'zod'
import { FieldgateError } from '../core/errors.ts'
import { lineOfKey } from './lines.ts'

/**
 * The operator's side of fleet management: how `fieldgate fleet` reaches the cloud broker, in a small
 * TOML file (`--connection FILE`) instead of flags. Paths are relative to the file.
 */
export const operatorSchema = z
  .object({
    /** The cloud broker: mqtt://, mqtts://, ws:// or wss:// with host and port. */
    url: z.string().regex(/^(mqtts?|wss?):\/\/[^/\s]+/, 'expected mqtt://host:port, mqtts://host:port, ws://… or wss://…'),
    username: z.string().min(1).optional(),
    /** File holding the operator's password (first line). */
    password_file: z.string().min(1).optional(),
    /** CA certificate(s) the broker's certificate must chain to (PEM). */
    ca: z.string().min(1).optional(),
    /** Client certificate and key (PEM), for brokers that authenticate by certificate. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    protocol_version: z.union([z.literal(4), z.literal(5)]).default(5),
    client_id: z.string().min(1).max(128).optional(),
    /** The operator's Ed25519 private key (from `fieldgate keygen`) that signs config pushes, for gateways that list operator_keys. */
    sign_key: z.string().min(1).optional(),
    /** Where gateways answer: `<reply_prefix>/<correlation>`; the broker's ACL must let gateways write it. */
    reply_prefix: z.string().regex(/^[^+#$][^+#]*$/, 'a topic without wildcards, not starting with $').optional(),
  })
  .strict()
  .refine((o) => (o.cert === undefined) === (o.key === undefined), 'cert and key go together')

export type OperatorFile = z.infer<typeof operatorSchema>

/** Reads and validates an operator file; errors name the file, line and key. Relative paths become absolute. */
export function loadOperatorFile(file: string): OperatorFile {
  const abs = resolve(file)
  let text: string
  try {
    text = readFileSync(abs, 'utf8')
  } catch (err) {
    throw new FieldgateError('CONFIG_NOT_FOUND', `cannot read ${abs}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    const line = err instanceof TomlError ? err.line : null
    throw new FieldgateError('CONFIG_PARSE', `${abs}${line ? `:${line}` : ''}: not valid TOML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err })
  }
  const r = operatorSchema.safeParse(raw)
  if (!r.success) {
    const issue = r.error.issues[0] as z.core.$ZodIssue
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0] ?? ''] : issue.path
    const key = path.map(String).join('.')
    const line = lineOfKey(text, path.map((p) => (typeof p === 'symbol' ? String(p) : p)))
    const message = issue.code === 'unrecognized_keys' ? `unknown key "${issue.keys[0]}"; the keys are ${Object.keys(operatorSchema.shape).join(', ')}` : issue.message
    throw new FieldgateError('CONFIG_INVALID', `${abs}${line ? `:${line}` : ''}: ${key || '(file)'}: ${message}`)
  }
  const o = r.data
  const rel = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(dirname(abs), p))
  return { ...o, password_file: rel(o.password_file), ca: rel(o.ca), cert: rel(o.cert), key: rel(o.key), sign_key: rel(o.sign_key) }
}

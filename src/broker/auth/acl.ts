import { parse as parseToml, TomlError } from 'smol-toml'
import * as z from 'zod'
import { FieldgateError } from '../../core/errors.ts'
import { stripShare, topicMatches, wildcardsInPlace } from '../../core/mqtt-wire/index.ts'

/**
 * ACL file (TOML). Once an ACL is configured everything not granted is denied.
 *
 *   [[rule]]                      # applies to every client (a pattern)
 *   topic = "devices/%c/#"        # %c = client id, %u = user name (device id for token logins)
 *   access = "readwrite"          # read | write | readwrite | deny
 *
 *   [[rule]]
 *   user = "dashboard"            # or device = "pump-7" (a device id from the tokens file)
 *   topic = "$SYS/#"
 *   access = "read"
 *
 * `deny` beats any grant. Wildcards in a rule's first level never match `$` topics [MQTT-4.7.2-1],
 * so `$SYS` is readable only through rules that name it, and such rules must name a user or device.
 * A substitution whose value is empty or contains `/`, `+` or `#` makes the rule not apply, so a
 * crafted client id cannot widen a pattern.
 */

export type Access = 'read' | 'write' | 'readwrite' | 'deny'

export interface AclIdentity {
  clientId: string
  username?: string
  deviceId?: string
}

interface Rule {
  user?: string
  device?: string
  access: Access
  topic: string
  /** False when the topic has %u or %c substitutions. */
  fixed: boolean
}

const ruleSchema = z
  .object({
    user: z.string().min(1).optional(),
    device: z.string().min(1).optional(),
    topic: z.string().min(1).max(65535),
    access: z.enum(['read', 'write', 'readwrite', 'deny']),
  })
  .strict()
const fileSchema = z.object({ rule: z.array(ruleSchema).default([]) }).strict()

export function parseAclFile(text: string, file: string): Acl {
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    const line = err instanceof TomlError ? err.line : null
    throw new FieldgateError('AUTH_FILE', `${file}${line ? `:${line}` : ''}: not valid TOML: ${(err as Error).message.split('\n')[0]}`, {
      cause: err,
      details: { file, line },
    })
  }
  const res = fileSchema.safeParse(raw)
  if (!res.success) {
    const issue = res.error.issues[0]
    const where = issue ? issue.path.map(String).join('.') : ''
    throw new FieldgateError('AUTH_FILE', `${file}: ${where}: ${issue?.message ?? 'invalid'}; see the ACL format in src/broker/auth/acl.ts`, {
      details: { file },
    })
  }
  const rules = res.data.rule.map((r, i): Rule => {
    const where = `${file}: rule[${i}] (topic "${r.topic}")`
    if (r.user !== undefined && r.device !== undefined) throw new FieldgateError('AUTH_FILE', `${where}: give user or device, not both`)
    if (r.topic.startsWith('$SYS') && r.user === undefined && r.device === undefined) {
      throw new FieldgateError('AUTH_FILE', `${where}: $SYS rules must name a user or device`)
    }
    if (!wildcardsInPlace(r.topic)) throw new FieldgateError('AUTH_FILE', `${where}: "#" may only be the last level and wildcards must fill a whole level`)
    return { ...r, fixed: !r.topic.includes('%u') && !r.topic.includes('%c') }
  })
  return new Acl(rules)
}

/** True when every topic that `filter` matches is also matched by `pattern`. */
export function coversFilter(pattern: string[], filter: string[]): boolean {
  if (filter[0]?.startsWith('$') && (pattern[0] === '+' || pattern[0] === '#')) return false
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]
    if (p === '#') return true
    const f = filter[i]
    // A shorter filter is covered only by a "#" here ("a/#" also matches "a" [MQTT-4.7.1-2]), handled above.
    if (f === undefined) return false
    if (f === '#') return false
    if (p === '+') continue
    if (f === '+' || f !== p) return false
  }
  return pattern.length === filter.length
}

export class Acl {
  constructor(private readonly rules: Rule[]) {}

  get size(): number {
    return this.rules.length
  }

  canWrite(who: AclIdentity, topic: string): boolean {
    return this.decide(who, (pattern) => topicMatches(pattern, topic), 'write')
  }

  canRead(who: AclIdentity, topic: string): boolean {
    return this.decide(who, (pattern) => topicMatches(pattern, topic), 'read')
  }

  /**
   * A subscription is granted when a read rule covers the whole filter (`$share/<group>/<filter>` as
   * `<filter>` [MQTT 5.0 §4.8.2]); deliveries are re-checked with canRead.
   */
  canSubscribe(who: AclIdentity, filter: string): boolean {
    const f = stripShare(filter).split('/')
    return this.decide(who, (pattern) => coversFilter(pattern.split('/'), f), 'read')
  }

  private decide(who: AclIdentity, test: (pattern: string) => boolean, want: 'read' | 'write'): boolean {
    let granted = false
    for (const rule of this.rules) {
      if (!applies(rule, who)) continue
      const pattern = rule.fixed ? rule.topic : substitute(rule.topic, who)
      if (pattern === null || !test(pattern)) continue
      if (rule.access === 'deny') return false
      if (rule.access === 'readwrite' || rule.access === want) granted = true
    }
    return granted
  }
}

function applies(rule: Rule, who: AclIdentity): boolean {
  if (rule.device !== undefined) return who.deviceId === rule.device
  if (rule.user !== undefined) return who.deviceId === undefined && who.username === rule.user
  return true
}

function safe(v: string | undefined): v is string {
  return v !== undefined && v !== '' && !/[/+#]/.test(v)
}

function substitute(topic: string, who: AclIdentity): string | null {
  const user = who.deviceId ?? who.username
  if (topic.includes('%u') && !safe(user)) return null
  if (topic.includes('%c') && !safe(who.clientId)) return null
  return topic.replaceAll('%u', user ?? '').replaceAll('%c', who.clientId)
}

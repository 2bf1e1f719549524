import * as z from 'zod'
import { wildcardsInPlace } from '../../core/mqtt-wire/index.ts'
import { duration, qos } from './common.ts'

/** mqtt://, mqtts://, ws:// or wss:// followed by a host. */
const brokerUrl = z.string().regex(/^(mqtt|mqtts|ws|wss):\/\/[^/\s]+/, 'a URL such as "mqtts://host:8883" (mqtt, mqtts, ws or wss)')

/** A topic template: placeholders {topic}, {gateway} and {1}, {2}... only; no wildcards. */
const topicTemplate = z
  .string()
  .min(1)
  .refine((t) => [...t.matchAll(/\{([^{}]*)\}/g)].every((m) => /^(topic|gateway|[1-9]\d*)$/.test(m[1] ?? '')), 'placeholders are {topic}, {gateway} and {1}, {2}...')
  .refine((t) => !/[+#]/.test(t), 'a remote or local topic cannot contain the wildcards + or #')

/** An MQTT topic filter: "#" only as the last level, "+" only as a whole level [MQTT-4.7.1-2] [MQTT-4.7.1-3]. */
const topicFilter = z
  .string()
  .min(1)
  .refine(wildcardsInPlace, 'a filter such as "plant/+/temp" or "plant/#"')

/** QoS / retain either fixed or taken from each message. */
const qosOrMessage = z.union([z.literal('message'), qos])
const retainOrMessage = z.union([z.literal('message'), z.boolean()])

const tlsSchema = z
  .object({
    /** PEM CA bundle trusted for the server; without it the system CAs are used. */
    ca_file: z.string().optional(),
    /** PEM client certificate for mutual TLS (needs key_file). */
    cert_file: z.string().optional(),
    /** PEM private key of the client certificate. */
    key_file: z.string().optional(),
    /** File holding the key's passphrase (first line). */
    passphrase_file: z.string().optional(),
    /** Verify the server's certificate chain and name. Only turn off for lab tests. */
    reject_unauthorized: z.boolean().default(true),
    /** Name sent in SNI and checked against the certificate; defaults to the URL's host. */
    servername: z.string().optional(),
  })
  .strict()
  .refine((t) => (t.cert_file === undefined) === (t.key_file === undefined), 'tls.cert_file and tls.key_file go together (mutual TLS)')

/** The Will / birth message on the gateway's status topic. */
const statusMessage = (payload: string) =>
  z
    .object({
      /** Default `fieldgate/<gateway id>/status`. */
      topic: z.string().min(1).optional(),
      payload: z.string().default(payload),
      qos: qos.default(1),
      retain: z.boolean().default(true),
    })
    .strict()

const forwardRuleSchema = z
  .object({
    /** Local MQTT topic filter this rule forwards. */
    filter: topicFilter,
    /**
     * Remote topic: a template with {topic} (local topic after strip_prefix), {gateway} and {1}, {2}...
     * (local topic levels, 1-based); without placeholders it is a fixed topic. "cloud/{topic}" adds a prefix.
     */
    remote: topicTemplate.default('{topic}'),
    /** Removed from the start of the local topic before {topic} is filled in. */
    strip_prefix: z.string().optional(),
    /** Fixed QoS 0/1/2 or "message" to keep each message's QoS. */
    qos: qosOrMessage.default('message'),
    /** Fixed retain flag or "message" to keep each message's flag. */
    retain: retainOrMessage.default('message'),
    /** "raw" sends the payload as-is; "envelope" wraps it in JSON with topic, client, QoS, time, properties, metadata. */
    format: z.enum(['raw', 'envelope']).default('raw'),
    /** Extra key/values put into the envelope. */
    metadata: z.record(z.string(), z.string()).default({}),
  })
  .strict()

const downlinkRuleSchema = z
  .object({
    /** Remote topic filter subscribed on the cloud broker. */
    remote_filter: topicFilter,
    /** Local topic: template with {topic} (remote topic after strip_prefix), {gateway}, {1}, {2}... */
    local: topicTemplate.default('{topic}'),
    /** Removed from the start of the remote topic before {topic} is filled in. */
    strip_prefix: z.string().optional(),
    /** Subscription QoS on the cloud broker. */
    qos: qos.default(1),
    /** Retain flag of the local publish: fixed, or "message" to keep the remote flag. */
    retain: retainOrMessage.default(false),
  })
  .strict()

/** The fleet management channel on this uplink's cloud broker (docs/fleet.md); off unless enabled. */
const managementSchema = z
  .object({
    /** Open the management channel `fieldgate/<gateway id>/mgmt/...` on this uplink's cloud broker (one uplink at most). */
    enabled: z.boolean().default(false),
    /** Longest a pushed config may take to prove itself (the management link back online on it, the uplinks healthy) before it is rolled back. */
    commit_deadline: duration.default(30_000),
    /** Pushed configs kept on disk under `<data_dir>/fleet/configs` (the committed one is always kept). */
    history: z.number().int().min(1).max(100).default(5),
    /** How often the retained inventory is refreshed (uptime, backlog) besides on connect and on change. */
    inventory_interval: duration.default(60_000),
    /**
     * Ed25519 public keys of the operators whose signed config pushes this gateway takes (the line `fieldgate
     * keygen` writes to FILE.pub). Empty (default): a push needs only the cloud broker's permission to publish it.
     */
    operator_keys: z.array(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'expected the base64 line of a .pub file from fieldgate keygen (44 characters ending in "=")')).default([]),
  })
  .strict()
  .refine((m) => m.commit_deadline >= 1000, 'commit_deadline must be at least "1s"')

/** One uplink to a cloud broker. */
export const uplinkSchema = z
  .object({
    /** Short name used in logs, status and `$SYS/fieldgate/bridge/{name}`. */
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-"'),
    /** First server to try. A password in it is shown as `***` in logs and status; `password_file` keeps it out of the config. */
    url: brokerUrl,
    /** Further servers tried in turn after url (failover). */
    servers: z.array(brokerUrl).default([]),
    /** MQTT client id; default `<gateway id>-<name>`. */
    client_id: z.string().min(1).max(65535).optional(),
    /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
    protocol_version: z.union([z.literal(4), z.literal(5)]).default(5),
    /** Clean start (v5) / clean session (3.1.1). */
    clean: z.boolean().default(true),
    /** v5 session expiry after a disconnect. */
    session_expiry: duration.default(0),
    /** Username, e.g. "Token" on brokers that take a device token as password. */
    username: z.string().optional(),
    /** File holding the password (first line); keeps secrets out of the config file. */
    password_file: z.string().optional(),
    /** Password given directly; meant for the FIELDGATE_UPLINKS__<n>__PASSWORD environment override. */
    password: z.string().optional(),
    tls: tlsSchema.optional(),
    /** MQTT keep-alive (sent in whole seconds); 0 turns it off. */
    keepalive: duration.default(30_000),
    /** Longest wait from opening the socket to CONNACK. */
    connect_timeout: duration.default(10_000),
    /** Decorrelated-jitter reconnect delay between min and max; retries never stop. */
    backoff: z
      .object({ min: duration.default(1000), max: duration.default(60_000) })
      .strict()
      .prefault({})
      .refine((b) => b.min > 0 && b.max >= b.min, 'backoff needs 0 < min <= max'),
    /** Last Will, fired by the cloud broker when the link dies. */
    will: statusMessage('offline').prefault({}),
    /** Birth message after every connect. */
    birth: statusMessage('online').prefault({}),
    /** Local -> cloud rules; the first matching rule applies. */
    forward: z.array(forwardRuleSchema).default([]),
    /** Cloud -> local rules. */
    downlink: z.array(downlinkRuleSchema).default([]),
    // 100, not 32: a backlog drain costs ~18% less CPU per message (bench/README "Issue 15 goals") and it
    // stays within what hosted brokers commonly allow unacknowledged per connection.
    /** Messages in flight to the cloud at once (store-forward window); a v5 server's Receive Maximum caps it. After a reconnect up to this many QoS 1 messages may be sent again. */
    window: z.number().int().min(1).max(65535).default(100),
    /** Replay pace after an outage in messages/s; 0 = as fast as the window allows. */
    replay_rate: z.number().nonnegative().default(1000),
    /** Whether the backlog or live data goes first while replaying. */
    replay_mode: z.enum(['backlog-first', 'live-first']).default('backlog-first'),
    /** Round-trip probe: publishes to the cloud and must receive it back, so a half-open link is found. */
    probe: z
      .object({
        /** 0 turns the probe off. */
        interval: duration.default(15_000),
        timeout: duration.default(5000),
        /** Default `fieldgate/<gateway id>/probe/<name>`. */
        topic: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
    management: managementSchema.prefault({}),
  })
  .strict()

export type UplinkConfig = z.infer<typeof uplinkSchema>
export type UplinkInput = z.input<typeof uplinkSchema>
export type ForwardRule = z.infer<typeof forwardRuleSchema>
export type DownlinkRule = z.infer<typeof downlinkRuleSchema>

/**
 * Writes the key tables of docs/configuration.md from the zod schema (types, allowed values,
 * defaults) and the doc comments above each key in src/config (descriptions). Re-run after a schema
 * change:  node --import tsx scripts/gen-config-docs.ts   (--check exits 1 when the file is stale)
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { z } from 'zod'
import { configSchema } from '../src/config/schema.ts'

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..')
const DOC = join(ROOT, 'docs', 'configuration.md')
const BEGIN = '<!-- BEGIN GENERATED KEYS (scripts/gen-config-docs.ts) -->'
const END = '<!-- END GENERATED KEYS -->'

type Json = { [k: string]: unknown }
const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {})

/** key name → doc comment, per source file, in file order. */
function comments(file: string): Map<string, string> {
  const text = readFileSync(file, 'utf8')
  const out = new Map<string, string>()
  const re = /\/\*\*((?:(?!\*\/)[\s\S])*?)\*\/\s*\n\s*([a-z_0-9]+)\s*:/g
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const body = (m[1] ?? '').split('\n').map((l) => l.replace(/^\s*\*\s?/, '').trim()).filter(Boolean).join(' ')
    if (!out.has(m[2] as string)) out.set(m[2] as string, body)
  }
  return out
}

const SECTION_DIR = join(ROOT, 'src', 'config', 'sections')
const FILES: Record<string, string> = { broker: 'broker.ts', storage: 'storage.ts', status: 'status.ts', uplinks: 'bridge.ts', devices: 'drivers.ts', update: 'update.ts' }
const docsByFile = new Map(readdirSync(SECTION_DIR).map((f) => [f, comments(join(SECTION_DIR, f))]))
const rootDocs = comments(join(ROOT, 'src', 'config', 'schema.ts'))

/** Descriptions for keys whose schema has no doc comment, by "section.key" or "section.*.key". */
const EXTRA: Record<string, string> = {
  'gateway.id': 'Names this gateway in topics (`fieldgate/<id>/…`), the uplink client id and the status page. One per site.',
  'log.level': 'Least severe level written (JSON lines on stdout).',
  'broker.sys_interval': 'How often `$SYS/…` statistics topics are published.',
  'broker.name': 'Name used in logs and status; default its index.',
  'broker.protocol': '`mqtt` (TCP), `mqtts` (TLS), `ws` (WebSocket) or `wss` (WebSocket over TLS).',
  'broker.host': 'Address to listen on: `127.0.0.1` (this machine only), `0.0.0.0` (all IPv4), `::` (all).',
  'broker.port': 'TCP port.',
  'broker.cert_file': 'PEM server certificate (chain).',
  'broker.key_file': 'PEM private key of the certificate.',
  'broker.ca_file': 'PEM CA bundle that client certificates must chain to.',
  'broker.passphrase_file': 'File holding the private key passphrase (first line).',
  'broker.require_client_cert': 'Mutual TLS: refuse clients without a certificate signed by ca_file.',
  'broker.use_cn_as_username': "Take the username from the client certificate's CN.",
  'broker.max_connections': 'Concurrent client connections; more are refused.',
  'broker.connect_timeout': 'A socket must send CONNECT within this.',
  'broker.max_packet_size': 'Largest MQTT packet accepted (and advertised to v5 clients).',
  'broker.max_inflight': 'Unacknowledged QoS 1/2 messages per client (v5 Receive Maximum).',
  'broker.max_queued_messages': 'QoS 1/2 messages queued for one offline persistent session or slow client; when full the newest is dropped and counted (QoS 0 is never queued for offline clients). 0 = no limit.',
  'broker.max_queued_bytes': 'Bytes queued for one client, as above; QoS 0 to a slow reader is also dropped once its socket backlog passes this. 0 = no limit.',
  'broker.publish_rate': 'Messages per second one client may publish (token bucket); 0 = unlimited.',
  'broker.publish_burst': 'Bucket size for publish_rate; 0 = one second of publish_rate.',
  'broker.max_subscriptions': 'Subscriptions per client; 0 = no limit.',
  'broker.max_topic_length': 'Longest topic name in bytes.',
  'broker.max_topic_levels': 'Most levels (`/`-separated parts) in a topic.',
  'broker.max_keepalive': 'Largest keep-alive a client may ask for (v5 Server Keep Alive), seconds.',
  'broker.max_session_expiry': 'Longest a persistent session is kept after its client leaves.',
  'broker.max_retained': 'Retained messages kept; 0 = no limit.',
  'broker.password_file': 'Users and scrypt password hashes; manage with `fieldgate passwd FILE USER`.',
  'broker.tokens_file': 'Device tokens accepted as passwords.',
  'broker.acl_file': 'TOML access rules per user/client (`%u`, `%c` substituted).',
  'broker.failure_window': 'Window over which failed logins are counted.',
  'storage.data_dir': 'LevelDB directory for the queue, retained messages and sessions (under systemd: /var/lib/fieldgate).',
  'storage.max_bytes': 'Disk budget of each uplink queue (logical bytes of its entries); when full, policy applies and the status page says so.',
  'storage.max_age': 'Entries older than this are dropped (counted as dropped).',
  'storage.policy': '`drop-oldest` keeps the newest data; `reject-new` refuses new QoS 1/2 publishes with a reason code.',
  'storage.max_batch': 'Most messages written in one LevelDB batch.',
  'uplinks.min': 'Shortest reconnect delay.',
  'uplinks.max': 'Longest reconnect delay (decorrelated jitter between min and max).',
  'uplinks.payload': 'Payload of the Will (`offline`) / birth (`online`) message.',
  'uplinks.timeout': 'A probe that does not come back within this marks the link dead.',
  'devices.id': 'Device name: used in topics, the status page and logs.',
  'devices.enabled': 'false keeps the device configured but not polled.',
  'devices.qos': 'QoS of the readings published.',
  'devices.retain': 'Publish readings retained (the last value greets new subscribers).',
  'devices.poll_interval': 'How often the device is read.',
  'devices.driver': 'Which driver; the keys below depend on it.',
  'devices.seed': 'Fixes the random sequence so a demo repeats.',
  'devices.baud': 'Serial line speed.',
  'devices.data_bits': 'Serial data bits.',
  'devices.parity': 'Serial parity.',
  'devices.stop_bits': 'Serial stop bits.',
  'devices.format': 'How lines from the device are parsed.',
  'devices.frame_timeout': 'A frame without a terminator is closed after this much silence (ms).',
  'devices.max_frame': 'Longest frame in bytes; longer input is discarded as garbage.',
  'devices.columns': 'csv: names of the columns, in order.',
  'devices.separator': 'csv: column separator.',
  'devices.kv_separator': 'kv: separator between key and value.',
  'devices.pattern': 'regex: a pattern with named groups, one per point.',
  'devices.reconnect_min': 'Shortest wait before reopening a lost port.',
  'devices.reconnect_max': 'Longest wait before reopening a lost port.',
  'devices.backoff_max': 'Longest wait between attempts to reach a device that stopped answering.',
  'devices.high': 'Upper bound of a random walk.',
  'devices.low': 'Lower bound of a random walk.',
  'devices.host': 'Modbus TCP server address (or the serial-to-TCP gateway).',
  'devices.kind': 'How a simulated value moves.',
  'devices.max_bits': 'Most coils/discrete inputs read in one request.',
  'devices.max_registers': 'Most registers read in one request (the protocol allows 125).',
  'devices.min': 'Lowest value a write may set.',
  'devices.max': 'Highest value a write may set.',
  'devices.name': 'Point name: the last topic level and the key on the status page.',
  'devices.offset': 'Added after scaling: value = raw × scale + offset.',
  'devices.retries': 'Extra attempts of a failed request before the point is marked error.',
  'devices.scale': 'Multiplies the raw value.',
  'devices.start': 'Initial simulated value.',
  'devices.step': 'Largest change per poll of a random walk (or the counter increment).',
  'devices.unit_id': 'Modbus unit (slave) id.',
  'devices.unit': 'Unit shown with the value (°C, kWh, …) and published with it.',
  'devices.writable': 'Accept writes to this point on `<topic>/set`.',
  'devices.type': 'How the value is decoded: a Modbus register type, or number/string/bool for serial lines.',
  'devices.table': 'Modbus table: coils (FC 1/5/15), discrete inputs (FC 2), input registers (FC 4), holding registers (FC 3/6/16).',
  'status.enabled': 'Serve the status page and endpoints.',
  'status.port': 'TCP port of the status page.',
  'status.username': 'Basic-auth user name.',
  'status.password_file': 'File holding the basic-auth password (first line).',
}

/**
 * Descriptions by where a key sits ("devices.points.byte_order"; "devices.port@modbus-tcp" for one driver),
 * for key names that mean different things in one source file: there the doc comment found first would be wrong.
 */
const BY_PATH: Record<string, string> = {
  'devices.retain': 'Publish readings retained (the last value greets new subscribers); a point may set its own.',
  'devices.port@modbus-tcp': 'TCP port of the Modbus server.',
  'devices.points.byte_order': "Byte order inside each register of this point: `big` or `little`; default the device's byte_order.",
  'devices.points.word_order': "Register order of this 32/64-bit point: `big` (high word first) or `little`; default the device's word_order.",
}

function describe(section: string, path: string, key: string, driver: string): string {
  const file = FILES[section]
  const own = BY_PATH[`${path}.${key}@${driver}`] ?? BY_PATH[`${path}.${key}`]
  return own ?? (file ? docsByFile.get(file)?.get(key) : rootDocs.get(key)) ?? EXTRA[`${section}.${key}`] ?? ''
}

function typeOf(s: Json): string {
  if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const alts = ((s.anyOf ?? s.oneOf) as unknown[]).map((a) => typeOf(obj(a)))
    if (alts.some((a) => a.startsWith('integer')) && alts.some((a) => /ms\|s\|m/.test(a))) return 'duration (ms or "30s", "5m", "2h", "7d")'
    if (alts.some((a) => a.startsWith('integer')) && alts.some((a) => /KB\|MB/i.test(a))) return 'size (bytes or "512KB", "64MB", "2GB")'
    return [...new Set(alts)].join(' or ')
  }
  if (s.const !== undefined) return JSON.stringify(s.const)
  if (Array.isArray(s.enum)) return s.enum.map((e) => JSON.stringify(e)).join(', ')
  const t = String(s.type ?? 'any')
  if (t === 'string' && typeof s.pattern === 'string') return `string matching \`${s.pattern}\``
  if (t === 'integer' || t === 'number') {
    const lo = (typeof s.minimum === 'number' && s.minimum < -1e15 ? undefined : s.minimum) ?? (s.exclusiveMinimum !== undefined ? `>${String(s.exclusiveMinimum)}` : undefined)
    const hi = s.maximum !== undefined && Number(s.maximum) < 1e15 ? s.maximum : undefined
    return lo !== undefined || hi !== undefined ? `${t} ${lo ?? ''}…${hi ?? ''}` : t
  }
  if (t === 'array') return `array of ${typeOf(obj(s.items))}`
  if (t === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `table of ${typeOf(obj(s.additionalProperties))}`
  return t
}

function defaultOf(input: Json, output: Json): string {
  const d = output.default ?? input.default
  if (d === undefined) return ''
  if (typeof d === 'object' && d !== null && Object.keys(d).length === 0) return ''
  return `\`${JSON.stringify(d)}\``
}

function rows(section: string, path: string, driver: string, input: Json, output: Json, out: string[], tables: Array<[string, Json, Json]>): void {
  const props = obj(input.properties)
  const oprops = obj(output.properties)
  const required = new Set(Array.isArray(input.required) ? (input.required as string[]) : [])
  for (const [key, raw] of Object.entries(props)) {
    const s = obj(raw)
    const o = obj(oprops[key])
    const full = path ? `${path}.${key}` : key
    const inner = s.type === 'object' && s.properties ? s : undefined
    const arrItems = s.type === 'array' ? obj(s.items) : undefined
    if (inner) {
      tables.push([full, s, o])
      continue
    }
    if (arrItems && (arrItems.properties || arrItems.oneOf)) {
      tables.push([`[${full}]`, arrItems, obj(o.items)])
      continue
    }
    const req = required.has(key) && s.default === undefined && o.default === undefined ? ' **(required)**' : ''
    out.push(`| \`${key}\`${req} | ${typeOf(s).replace(/\|/g, '\\|')} | ${defaultOf(s, o)} | ${describe(section, path, key, driver).replace(/\|/g, '\\|')} |`)
  }
}

function table(section: string, name: string, input: Json, output: Json, level: number): string[] {
  const isArray = name.startsWith('[')
  const header = isArray ? `[${name}]` : `[${name}]`
  const lines = [`${'#'.repeat(level)} \`${header}\``, '']
  const variants = Array.isArray(input.oneOf) ? (input.oneOf as unknown[]).map(obj) : null
  // Nested tables with the variant (driver) they belong to; identical ones are listed once.
  const nested: Array<{ name: string; input: Json; output: Json; variant: string }> = []
  const plain = name.replace(/^\[|\]$/g, '')
  const emit = (inp: Json, outp: Json, variant: string, driver: string): void => {
    const body: string[] = []
    const found: Array<[string, Json, Json]> = []
    rows(section, plain, driver, inp, outp, body, found)
    for (const [n, i, o] of found) nested.push({ name: n, input: i, output: o, variant })
    if (body.length) lines.push('| key | type / allowed | default | meaning |', '|---|---|---|---|', ...body, '')
  }
  if (variants) {
    const outs = Array.isArray(output.oneOf) ? (output.oneOf as unknown[]).map(obj) : []
    variants.forEach((v, i) => {
      const kind = obj(obj(v.properties).driver).const ?? (obj(obj(v.properties).driver).enum as unknown[] | undefined)?.join('", "')
      lines.push(`**driver = "${String(kind)}"**`, '')
      const first = obj(obj(v.properties).driver).const ?? (obj(obj(v.properties).driver).enum as unknown[] | undefined)?.[0]
      emit(v, outs[i] ?? {}, `driver = "${String(kind)}"`, String(first))
    })
  } else emit(input, output, '', '')
  const groups = new Map<string, { name: string; input: Json; output: Json; variants: string[] }>()
  for (const n of nested) {
    const key = `${n.name}\u0000${JSON.stringify(n.input)}`
    const g = groups.get(key)
    if (g) g.variants.push(n.variant)
    else groups.set(key, { name: n.name, input: n.input, output: n.output, variants: [n.variant] })
  }
  const names = [...groups.values()].map((g) => g.name)
  for (const g of groups.values()) {
    const ambiguous = names.filter((n) => n === g.name).length > 1
    const sub = table(section, g.name, g.input, g.output, Math.min(level + 1, 4))
    if (ambiguous && sub[0]) sub[0] = `${sub[0]} for ${g.variants.filter(Boolean).join(', ')}`
    lines.push(...sub)
  }
  return lines
}

export function generate(): string {
  const input = obj(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }))
  const output = obj(z.toJSONSchema(configSchema, { io: 'output', unrepresentable: 'any' }))
  const lines: string[] = []
  for (const [section, raw] of Object.entries(obj(input.properties))) {
    const s = obj(raw)
    const o = obj(obj(output.properties)[section])
    if (s.type === 'array') lines.push(...table(section, `[${section}]`, obj(s.items), obj(o.items), 3))
    else lines.push(...table(section, section, s, o, 3))
  }
  return lines.join('\n')
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)
if (isMain) {
  const doc = readFileSync(DOC, 'utf8')
  const a = doc.indexOf(BEGIN)
  const b = doc.indexOf(END)
  if (a < 0 || b < a) throw new Error(`${DOC} lacks the ${BEGIN} … ${END} markers`)
  const next = `${doc.slice(0, a + BEGIN.length)}\n\n${generate()}\n${doc.slice(b)}`
  if (process.argv.includes('--check')) {
    if (next !== doc) {
      process.stderr.write('docs/configuration.md is stale: run node --import tsx scripts/gen-config-docs.ts\n')
      process.exitCode = 1
    }
  } else writeFileSync(DOC, next)
}

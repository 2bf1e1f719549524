import { sign as edSign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadOperatorFile } from '../config/index.ts'
import { errorMessage, redactText } from '../core/index.ts'
import { fileChunks, inventoryTable, OperatorLink, parseSelector, resultTable, rolloutConfig, rolloutUpdate, select, type BrokerOptions, type RolloutResult, type UpdatePayload, type WavePlan } from '../fleet/ops/index.ts'
import { configSigningBytes, type ConfigSignature } from '../fleet/index.ts'
import { encodePublicKey, keyId, parseManifest, parsePrivateKey, verifyFile } from '../update/index.ts'

export const FLEET_USAGE = `usage:
  fieldgate fleet list [--to SELECTOR] [--json]                      the gateways and their inventories
  fieldgate fleet config FILE --to SELECTOR [--deadline 30s]         push a config in waves ({{id}}: the gateway's id)
                  [--sign-key FILE]                                  signed by the operator's key (gateways with operator_keys)
  fieldgate fleet update MANIFEST EXE --to SELECTOR [--stage]        send a signed update in waves
  fieldgate fleet update MANIFEST [EXE] --url URL --to SELECTOR      the gateways fetch it from an https:// URL
connection (or --connection FILE, a TOML file with url, username, password_file, ca, cert, key, protocol_version, client_id, reply_prefix, sign_key):
  --broker URL  --username NAME  --password-file FILE  --ca FILE  --cert FILE  --key FILE  --protocol 4|5  --client-id ID  --reply-prefix TOPIC
waves: --canary N (1)  --factor F (2)  --max-wave N (50)  --max-failures N (0)  --timeout DURATION (config: deadline + 60s; update: 15m)
update: --stage (receive and verify, do not install)  --url URL (the gateways fetch it)  --lead N (16)  --window N (4)
output: progress and a final table; --json prints the results as JSON on stdout and the progress on stderr
SELECTOR: all, ids (site-a,site-b), patterns (site-*), filters (version=0.1.0, arch=arm64, source=remote, health=ok)`

const OPTIONS = {
  connection: { type: 'string' },
  broker: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  protocol: { type: 'string' },
  'client-id': { type: 'string' },
  'reply-prefix': { type: 'string' },
  'sign-key': { type: 'string' },
  to: { type: 'string' },
  deadline: { type: 'string' },
  canary: { type: 'string' },
  factor: { type: 'string' },
  'max-wave': { type: 'string' },
  'max-failures': { type: 'string' },
  timeout: { type: 'string' },
  stage: { type: 'boolean' },
  url: { type: 'string' },
  lead: { type: 'string' },
  window: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string }

/** A problem with how the command was called: exit code 2. */
class UsageError extends Error {}

/** `fieldgate fleet …`: the operator's side of fleet management (docs/fleet.md, "The fleet command"). */
export async function fleet(argv: string[]): Promise<number> {
  let values: Values
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS }))
  } catch (err) {
    process.stderr.write(`fieldgate fleet: ${errorMessage(err).split('\n')[0]} (fieldgate fleet --help lists the options)\n`)
    return 2
  }
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${FLEET_USAGE}\n`)
    return values.help ? 0 : 2
  }
  // With --json, stdout carries only the JSON result.
  const progress = (line: string): void => void (values.json ? process.stderr : process.stdout).write(`${line}\n`)
  let link: OperatorLink | null = null
  try {
    const [sub, ...args] = positionals
    if (sub !== 'list' && sub !== 'config' && sub !== 'update') throw new UsageError(`unknown subcommand "${sub}"; it is list, config or update`)
    const broker = brokerOptions(values)
    const signKey = values['sign-key'] ?? (values.connection === undefined ? undefined : loadOperatorFile(values.connection).sign_key)
    const signer = signKey === undefined ? null : configSigner(signKey)
    if (values.url !== undefined && !/^https:\/\/[^/\s]+/.test(values.url)) throw new UsageError(`--url ${values.url} is not an https:// URL`)
    const prepared = sub === 'update' ? await updatePayload(args, values.url) : sub === 'config' ? configText(args) : null
    link = await OperatorLink.connect(broker)
    await link.settle()
    if (sub === 'list') return list(link, values)
    if (values.to === undefined) throw new UsageError(`${sub} needs --to SELECTOR (all, site-a,site-b, site-*, version=0.1.0)`)
    const rollout = { selector: parseSelector(values.to), waves: wavePlan(values), maxFailures: count(values['max-failures'], 'max-failures', 0), progress }
    let out: RolloutResult & { stats?: Record<string, number> }
    if (typeof prepared === 'string') {
      const deadlineMs = values.deadline === undefined ? undefined : duration(values.deadline, 'deadline')
      const timeoutMs = values.timeout ? duration(values.timeout, 'timeout') : (deadlineMs ?? 600_000) + 60_000
      out = await rolloutConfig(link, prepared, rollout, { ...(deadlineMs !== undefined ? { deadlineMs } : {}), timeoutMs, ...(signer ? { sign: signer(timeoutMs) } : {}) })
    } else {
      const payload = prepared as UpdatePayload
      const feeder = { lead: count(values.lead, 'lead', 16, 1), window: count(values.window, 'window', 4, 1) }
      progress(`update ${payload.version}: ${payload.size} bytes in ${payload.chunks} chunks of ${payload.chunkSize}`)
      try {
        out = await rolloutUpdate(link, payload, rollout, { install: values.stage !== true, timeoutMs: values.timeout ? duration(values.timeout, 'timeout') : 900_000, feeder, ...(values.url ? { url: values.url } : {}) })
      } finally {
        await payload.close()
      }
      const s = out.stats as { shared: number; unicast: number; bytes: number; wants: number }
      if (!values.url) progress(`chunks published: ${s.shared} on the shared topic, ${s.unicast} to single gateways (${(s.bytes / 1e6).toFixed(1)} MB); ${s.wants} requests for missing chunks`)
    }
    return report(out, values, progress)
  } catch (err) {
    const msg = redactText(errorMessage(err)).replace(/\s*\n\s*/g, '; ')
    process.stderr.write(`fieldgate fleet: ${msg}${err instanceof UsageError ? ' (fieldgate fleet --help lists the options)' : ''}\n`)
    return err instanceof UsageError ? 2 : 1
  } finally {
    await link?.close()
  }
}

function report(out: RolloutResult, values: Values, progress: (l: string) => void): number {
  for (const id of out.unknown) out.results.push({ id, wave: 0, outcome: 'skipped', state: 'unknown', detail: 'no inventory names this gateway', ms: 0 })
  const ok = out.results.length > 0 && out.results.every((r) => r.outcome === 'ok' || r.outcome === 'unchanged')
  if (values.json) process.stdout.write(`${JSON.stringify({ ok, stopped: out.stopped, results: out.results, ...('stats' in out ? { stats: out.stats } : {}) })}\n`)
  else process.stdout.write(`${resultTable(out.results)}\n`)
  if (out.results.length === 0) progress('no gateway matched --to (fieldgate fleet list shows them)')
  return ok ? 0 : 1
}

function list(link: OperatorLink, values: Values): number {
  const { ids } = select(parseSelector(values.to ?? 'all'), link.inventory)
  if (values.json) process.stdout.write(`${JSON.stringify(Object.fromEntries(ids.map((id) => [id, link?.inventory.get(id)])))}\n`)
  else process.stdout.write(`${ids.length === 0 ? 'no gateway has published an inventory on this broker (fieldgate/+/mgmt/inventory)' : inventoryTable(link.inventory, ids)}\n`)
  return 0
}

function brokerOptions(v: Values): BrokerOptions {
  const file = v.connection === undefined ? null : loadOperatorFile(v.connection)
  const url = v.broker ?? file?.url
  if (url === undefined) throw new UsageError('give the cloud broker: --broker mqtts://host:8883, or --connection FILE with url = "…"')
  if (!/^(mqtts?|wss?):\/\/[^/\s]+/.test(url)) throw new UsageError(`--broker ${url} is not mqtt://host:port, mqtts://host:port, ws://… or wss://…`)
  const protocol = v.protocol ?? (file ? String(file.protocol_version) : '5')
  if (protocol !== '4' && protocol !== '5') throw new UsageError(`--protocol ${protocol}: 4 (MQTT 3.1.1) or 5`)
  const pick = (flag: string | undefined, fromFile: string | undefined): string | undefined => flag ?? fromFile
  const o: BrokerOptions = { url, protocolVersion: Number(protocol) as 4 | 5 }
  const fields: Array<[keyof BrokerOptions, string | undefined]> = [
    ['username', pick(v.username, file?.username)],
    ['passwordFile', pick(v['password-file'], file?.password_file)],
    ['ca', pick(v.ca, file?.ca)],
    ['cert', pick(v.cert, file?.cert)],
    ['key', pick(v.key, file?.key)],
    ['clientId', pick(v['client-id'], file?.client_id)],
    ['replyPrefix', pick(v['reply-prefix'], file?.reply_prefix)],
  ]
  for (const [k, val] of fields) if (val !== undefined) (o as unknown as Record<string, unknown>)[k] = val
  if ((o.cert === undefined) !== (o.key === undefined)) throw new UsageError('--cert and --key go together')
  return o
}

function configText(args: string[]): string {
  const [file, ...rest] = args
  if (!file || rest.length > 0) throw new UsageError('usage: fieldgate fleet config FILE --to SELECTOR')
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new Error(`cannot read the config ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`)
  }
}

/** The manifest and the executable it signs, checked to match before anything is sent (with --url the executable is optional). */
async function updatePayload(args: string[], url: string | undefined): Promise<UpdatePayload> {
  const [manifestFile, exe, ...rest] = args
  if (!manifestFile || (!exe && !url) || rest.length > 0) throw new UsageError('usage: fieldgate fleet update MANIFEST EXE --to SELECTOR (or MANIFEST --url https://… --to SELECTOR)')
  let text: string
  try {
    text = readFileSync(manifestFile, 'utf8')
  } catch (err) {
    throw new Error(`cannot read the manifest ${manifestFile}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`)
  }
  const m = parseManifest(text)
  const facts = { manifestText: text, version: m.version, sha256: m.sha256, size: m.size, chunkSize: m.chunkSize, chunks: m.chunks.length }
  if (!exe) return { ...facts, read: () => Promise.reject(new Error('no executable given: the gateways fetch it from --url')), close: () => Promise.resolve() }
  // The gateways check the signature; here the file must be the one the manifest describes.
  await verifyFile(exe, m)
  return { ...facts, ...(await fileChunks(exe, m.chunkSize, m.size)) }
}

/** Signs each gateway's config with the operator's key, valid for the rollout's time (a wave waits its timeout at most). */
function configSigner(file: string): (timeoutMs: number) => (id: string, text: string) => ConfigSignature {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (err) {
    throw new Error(`cannot read the signing key ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`)
  }
  const key = parsePrivateKey(pem)
  if (!key) throw new UsageError(`${file} is not an Ed25519 private key; make one with fieldgate keygen FILE and list FILE.pub in the gateways' uplinks.management.operator_keys`)
  const keyIdOf = keyId(Buffer.from(encodePublicKey(key), 'base64'))
  return (timeoutMs) => {
    // Each wave's pushes are sent at its start and answered within the timeout; later waves sign anew.
    return (id, text) => {
      const expires = new Date(Date.now() + Math.min(timeoutMs + 60_000, 24 * 3_600_000)).toISOString()
      return { key_id: keyIdOf, expires, sig: edSign(null, configSigningBytes(id, text, expires), key).toString('base64') }
    }
  }
}

function wavePlan(v: Values): WavePlan {
  const factor = v.factor === undefined ? 2 : Number(v.factor)
  if (!Number.isFinite(factor) || factor < 1 || factor > 100) throw new UsageError(`--factor ${v.factor}: a number from 1 to 100`)
  return { canary: count(v.canary, 'canary', 1, 1), factor, maxWave: count(v['max-wave'], 'max-wave', 50, 1) }
}

function count(text: string | undefined, name: string, dflt: number, min = 0): number {
  if (text === undefined) return dflt
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > 1_000_000) throw new UsageError(`--${name} ${text}: a whole number from ${min}`)
  return n
}

function duration(text: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(text.trim())
  if (!m) throw new UsageError(`--${name} ${text}: a duration such as 30s, 15m or 1h`)
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'])
}

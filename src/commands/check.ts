import { constants, accessSync, existsSync, readdirSync, statSync } from 'node:fs'
import { lookup } from 'node:dns/promises'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import type { Config, UplinkConfig } from '../config/index.ts'
import { loadConfig, loadConfigText } from '../config/index.ts'
import { listenerName, tlsServerOptions } from '../broker/index.ts'
import { committedOver } from '../gateway/fleet.ts'
import { listenerOptions } from '../gateway/options/broker.ts'
import { deviceOptions } from '../gateway/options/devices.ts'
import { uplinkOptions } from '../gateway/options/uplink.ts'
import { errorMessage, redactText, silentLogger, splitCredentials, type Logger } from '../core/index.ts'

export interface CheckResult {
  name: string
  ok: boolean
  detail: string
}

export interface CheckOptions {
  env?: NodeJS.ProcessEnv
  out?: (line: string) => void
  logger?: Logger
  /** Longest wait for one probe (a device read, an uplink connect). */
  probeTimeout?: number
  /**
   * An upgrade checks before it restarts the running gateway: ports and devices that gateway holds
   * count as available (it releases them when it stops), instead of failing.
   */
  inPlace?: boolean
}

/** `fieldgate check --config FILE`: validate, then probe without starting the gateway. Exit code 1 on any failure. */
export async function check(configFile: string | null, opts: CheckOptions = {}): Promise<number> {
  const write = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`))
  // every line: an error may quote an uplink URL with its password
  const out = (line: string): void => write(redactText(line))
  out(`fieldgate check ${configFile ?? '(built-in defaults)'}`)
  let config: Config
  try {
    config = loadConfig(configFile, opts.env ?? process.env).config
  } catch (err) {
    out(`  FAIL  config  ${errorMessage(err).replace(/\n/g, '\n        ')}`)
    out('1 check failed: fix the config first; nothing was probed')
    return 1
  }
  const results: CheckResult[] = [{ name: 'config', ok: true, detail: summary(config) }]
  const print = (r: CheckResult): void => out(`  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(22)} ${r.detail}`)
  print(results[0] as CheckResult)
  if (opts.inPlace) out('  (in place: what the running fieldgate holds counts as available)')
  const remote = configFile === null ? null : committedOver(configFile, config)
  if (remote) {
    out(`  (fleet: remote config ${remote.hash.slice(0, 12)}, committed ${remote.committedAt}, runs instead of this file while the file stays unchanged; an edit of the file takes over; see docs/fleet.md)`)
  }
  for await (const r of probes(config, opts)) {
    results.push(r)
    print(r)
  }
  const failed = results.filter((r) => !r.ok).length
  out(failed === 0 ? `all ${results.length} checks passed` : `${failed} of ${results.length} checks failed`)
  return failed === 0 ? 0 : 1
}

function summary(c: Config): string {
  const n = (k: number, w: string): string => `${k} ${w}${k === 1 ? '' : 's'}`
  return `valid (${n(c.broker.listeners.length, 'listener')}, ${n(c.devices.length, 'device')}, ${n(c.uplinks.length, 'uplink')})`
}

/**
 * `fieldgate check` for a config pushed to a running gateway (docs/fleet.md): the same validation and
 * the same local probes (files readable, TLS files, data directory); not the port, device and uplink
 * probes, whose resources the running gateway holds (as with --in-place) and whose uplink the commit
 * gate then tests for real. `config` is null unless every check passed.
 */
export function checkConfigText(text: string, label: string, env: NodeJS.ProcessEnv = process.env): { config: Config | null; checks: CheckResult[] } {
  let config: Config
  try {
    config = loadConfigText(text, label, env).config
  } catch (err) {
    return { config: null, checks: [{ name: 'config', ok: false, detail: errorMessage(err) }] }
  }
  const checks = [{ name: 'config', ok: true, detail: summary(config) }, ...localProbes(config)]
  return { config: checks.every((c) => c.ok) ? config : null, checks }
}

/** The probes that need nothing but this machine's files. */
function localProbes(config: Config): CheckResult[] {
  const out = fileKeys(config).map(([key, file]) => fileReadable(key, file))
  out.push(dataDir(config.storage.data_dir))
  for (const [i, l] of config.broker.listeners.entries()) if (l.tls) out.push(tlsFiles(l, i))
  return out
}

/** Runs every probe in turn; each is bounded by the probe timeout. */
export async function* probes(config: Config, opts: CheckOptions = {}): AsyncGenerator<CheckResult> {
  const timeout = opts.probeTimeout ?? 15_000
  const logger = opts.logger ?? silentLogger
  for (const [key, file] of fileKeys(config)) yield fileReadable(key, file)
  yield dataDir(config.storage.data_dir)
  const running = config.status.enabled && (await fieldgateAnswers(config.status.host, config.status.port))
  const busy = running ? 'is in use by the fieldgate running now (sudo systemctl stop fieldgate, then check again)' : undefined
  const held = running && opts.inPlace === true
  const port = async (name: string, host: string, p: number, key: string): Promise<CheckResult> => {
    const r = await portFree(name, host, p, key, busy)
    return held && !r.ok && r.detail.includes('fieldgate running now') ? { name, ok: true, detail: `${host}:${p} is held by the fieldgate running now, which the upgrade restarts` } : r
  }
  for (const [i, l] of config.broker.listeners.entries()) yield await port(`listener ${l.name ?? i}`, l.host, l.port, `broker.listeners[${i}]`)
  for (const [i, l] of config.broker.listeners.entries()) if (l.tls) yield tlsFiles(l, i)
  if (config.status.enabled) yield await port('status page', config.status.host, config.status.port, 'status')
  if (held) {
    for (const d of config.devices) yield { name: `device ${d.id}`, ok: true, detail: 'not probed: the fieldgate running now holds it' }
  } else if (config.devices.length > 0) {
    const { probeDevice } = await import('../drivers/index.ts')
    for (const d of config.devices) {
      yield await bounded(`device ${d.id}`, timeout, async () => {
        const r = await probeDevice(deviceOptions(d), logger)
        return { name: `device ${d.id}`, ok: r.ok, detail: r.detail }
      })
    }
  }
  if (config.uplinks.length > 0) {
    for (const u of config.uplinks) {
      yield await bounded(`uplink ${u.name}`, timeout + 1000, () => probeUplink(u, config.gateway.id, timeout))
    }
  }
}

async function bounded(name: string, ms: number, fn: () => Promise<CheckResult>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<CheckResult>((resolveTimeout) => {
    timer = setTimeout(() => resolveTimeout({ name, ok: false, detail: `no answer within ${ms} ms` }), ms)
  })
  try {
    return await Promise.race([fn().catch((err: unknown) => ({ name, ok: false, detail: errorMessage(err) })), expired])
  } finally {
    clearTimeout(timer)
  }
}

/** Every `*_file` key in the config with its dotted path (secrets, certificates, ACLs). */
export function fileKeys(value: unknown, path = ''): Array<[string, string]> {
  const out: Array<[string, string]> = []
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...fileKeys(v, `${path}[${i}]`)))
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const key = path ? `${path}.${k}` : k
      if (k.endsWith('_file') && typeof v === 'string') out.push([key, v])
      else out.push(...fileKeys(v, key))
    }
  }
  return out
}

/** The listener's certificate, key, CA and CRL make a TLS context (a CRL that is expired or from another CA fails). */
function tlsFiles(l: Config['broker']['listeners'][number], i: number): CheckResult {
  const name = `tls of ${l.name ?? i}`
  try {
    const o = listenerOptions(l)
    tlsServerOptions(o, listenerName(o, i))
    return { name, ok: true, detail: `broker.listeners[${i}].tls files make a TLS context${l.tls?.crl_file ? ' (CRL current, signed by the CA)' : ''}` }
  } catch (err) {
    return { name, ok: false, detail: errorMessage(err) }
  }
}

function fileReadable(key: string, file: string): CheckResult {
  try {
    accessSync(file, constants.R_OK)
    return { name: key, ok: true, detail: `${file} is readable` }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const hint = code === 'ENOENT' ? 'create it or fix the path' : 'check its owner and mode (the service runs as user fieldgate)'
    return { name: key, ok: false, detail: `cannot read ${file} (${code ?? errorMessage(err)}); ${hint}` }
  }
}

function dataDir(dir: string): CheckResult {
  const abs = resolve(dir)
  let probe = abs
  while (!existsSync(probe) && dirname(probe) !== probe) probe = dirname(probe)
  const fail = (why: string): CheckResult => ({ name: 'storage.data_dir', ok: false, detail: `${abs} ${why}` })
  if (!statSync(probe).isDirectory()) return fail(probe === abs ? 'is not a directory; fix the path' : `cannot be created: ${probe} is a file; fix the path`)
  try {
    accessSync(probe, constants.W_OK | constants.X_OK)
  } catch {
    return fail(`is not writable (nearest existing: ${probe}); create it for the service user`)
  }
  if (probe === abs) {
    // The database's own files must be readable and writable too (a copy restored as root is not).
    let files: string[]
    try {
      files = readdirSync(abs)
    } catch {
      return fail('cannot be listed by this user; chown -R the data dir to the service user')
    }
    for (const f of files) {
      try {
        accessSync(join(abs, f), constants.R_OK | constants.W_OK)
      } catch {
        return fail(`holds ${f}, which this user cannot read and write; chown -R the data dir to the service user`)
      }
    }
  }
  return { name: 'storage.data_dir', ok: true, detail: probe === abs ? `${abs} is writable` : `${abs} will be created in ${probe}` }
}

/** Binds and releases the port: catches another process (or a running gateway) holding it. */
export function portFree(name: string, host: string, port: number, key: string, inUse = 'is in use (is fieldgate already running? see `ss -ltnp`)'): Promise<CheckResult> {
  return new Promise((done) => {
    const srv = createServer()
    srv.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? inUse : err.code === 'EADDRNOTAVAIL' ? 'is not an address of this machine' : err.code === 'EACCES' ? 'needs privileges (ports below 1024)' : errorMessage(err)
      done({ name, ok: false, detail: `${host}:${port} ${why}; set ${key}.host / ${key}.port` })
    })
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => done({ name, ok: true, detail: `${host}:${port} is free` })))
  })
}

/** True when a fieldgate status server answers on this address (the gateway is running). */
async function fieldgateAnswers(host: string, port: number): Promise<boolean> {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  try {
    const res = await fetch(`http://${h}:${port}/healthz`, { signal: AbortSignal.timeout(1000) })
    const body = (await res.json()) as { status?: unknown }
    return typeof body.status === 'string'
  } catch {
    return false
  }
}

/**
 * Resolves the uplink's host, then connects once with its own credentials and TLS settings. The
 * client id gets a "-check" suffix and no Will, so a running gateway is not kicked off nor reported offline.
 */
export async function probeUplink(u: UplinkConfig, gatewayId: string, timeout: number): Promise<CheckResult> {
  const name = `uplink ${u.name}`
  const url = new URL(splitCredentials(u.url).url) // a raw '/' or '@' in a password would make URL throw
  const shown = `${url.protocol}//${url.host}`
  try {
    const addr = await lookup(url.hostname)
    void addr
  } catch (err) {
    return { name, ok: false, detail: `${url.hostname} does not resolve (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); check uplinks url and the DNS` }
  }
  const [{ connectAsync }, { clientOptions, urlWithOptions }] = await Promise.all([import('mqtt'), import('../bridge/options.ts')])
  let options
  try {
    options = clientOptions(uplinkOptions(u), gatewayId)
  } catch (err) {
    return { name, ok: false, detail: errorMessage(err) }
  }
  delete options.will
  options.clientId = `${options.clientId ?? gatewayId}-check`.slice(0, 65535)
  options.connectTimeout = Math.min(timeout, u.connect_timeout)
  options.clean = true
  delete options.properties
  const started = Date.now()
  try {
    const client = await connectAsync(urlWithOptions(u.url, options), options, false)
    const ms = Date.now() - started
    await client.endAsync().catch(() => undefined)
    return { name, ok: true, detail: `${shown} accepted ${u.username === undefined ? 'an anonymous' : `user "${u.username}"'s`} connection in ${ms} ms` }
  } catch (err) {
    return { name, ok: false, detail: `${shown} refused or unreachable: ${errorMessage(err)}` }
  }
}

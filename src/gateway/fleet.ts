import { readFileSync } from 'node:fs'
import { arch, hostname, platform } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { isDeepStrictEqual } from 'node:util'
import { clientOptions, serverList, urlWithOptions } from '../bridge/options.ts'
import { loadConfig, loadConfigText, patchConfigText, type Config, type LoadedConfig, type UplinkConfig } from '../config/index.ts'
import { errorMessage, type Logger } from '../core/index.ts'
import { configHash, createFleet, FleetStore, type CheckLine, type Fleet, type InventoryFacts, type LinkSpec, type UpdateFacts, type StartState, type Validation } from '../fleet/index.ts'
import { VERSION } from '../version.ts'
import type { Gateway } from './build.ts'
import { parsePublicKey, type TrustedKey } from '../update/index.ts'
import { updateHost } from './fleet-update.ts'
import { uplinkOptions } from './options/uplink.ts'
import { planReload } from './reload-plan.ts'

/** `fieldgate check`'s validation of a config text (commands/check.ts lends it; the gateway may not import commands). */
export type ConfigChecker = (text: string, label: string) => { config: Config | null; checks: CheckLine[] }

/** The gateway id's default, which names no gateway in particular. */
const DEFAULT_ID = 'fieldgate'

/**
 * The id in `fieldgate/<id>/mgmt/...`: `gateway.id` when it is set; left at its default "fieldgate",
 * `fieldgate-<12 hex digits of sha256(/etc/machine-id)>`, stable for the life of the OS install and
 * unique per machine (the host name when there is no machine id).
 */
export function managementId(c: Config, readMachineId: () => string = defaultMachineId): string {
  if (c.gateway.id !== DEFAULT_ID) return c.gateway.id
  return `${DEFAULT_ID}-${configHash(readMachineId()).slice(0, 12)}`
}

function defaultMachineId(): string {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = readFileSync(f, 'utf8').trim()
      if (id !== '') return id
    } catch {
      // next
    }
  }
  return hostname()
}

/** Why a valid config may not be applied by remote configuration, or null when it may. */
export function remoteRefusal(running: Config, next: Config): string | null {
  if (!managedUplink(next)) return 'the new config enables management on no uplink: the gateway would be cut off from management; keep [uplinks.management] enabled = true on one uplink'
  if (!isDeepStrictEqual(running.update, next.update)) {
    // The keys that may sign executables are the root of trust for updates: a config pushed over the
    // channel must not be able to add its own (docs/fleet.md, Security).
    return 'update.* (the keys trusted to sign executables, max_size, health_deadline) cannot be changed by remote configuration; change it in the config file on the gateway'
  }
  if (!isDeepStrictEqual(managedUplink(running)?.management.operator_keys ?? [], managedUplink(next)?.management.operator_keys ?? [])) {
    // Who may push configs is decided on the gateway, as the update keys are.
    return 'uplinks.management.operator_keys (who may push configs) cannot be changed by remote configuration; change it in the config file on the gateway'
  }
  const plan = planReload(running, next)
  if (plan.refused.length > 0) return `these changes need a restart, which remote configuration does not do: ${plan.refused.join('; ')}`
  return null
}

export function managedUplink(c: Config): UplinkConfig | undefined {
  return c.uplinks.find((u) => u.management.enabled)
}

export function fleetDir(c: Config): string {
  return join(resolve(c.storage.data_dir), 'fleet')
}

export interface Effective {
  loaded: LoadedConfig
  /** The text the running config came from (the file, or the committed remote config). */
  text: string
  /** The config file's own text. */
  baseText: string
  source: 'file' | 'remote'
  committedAt: string | null
  /** Set when management is on: what the state directory said at this load. */
  start: StartState | null
}

/**
 * The config to run: the file, or the remote config committed while the file stayed as it is now.
 * A committed config that no longer validates is dropped (with a note) and the file runs.
 */
export function loadEffective(file: string, env: NodeJS.ProcessEnv = process.env, opts: { coldStart?: boolean } = {}): Effective {
  const abs = resolve(file)
  let baseText: string
  try {
    baseText = readFileSync(abs, 'utf8')
  } catch {
    return { ...plain(loadConfig(abs, env), ''), baseText: '' } // throws CONFIG_NOT_FOUND, worded as ever
  }
  const base = loadConfigText(baseText, abs, env)
  const managed = managedUplink(base.config)
  if (!managed) return plain(base, baseText)
  const store = new FleetStore(fleetDir(base.config), managed.management.history)
  const start = store.resolve(baseText, opts)
  if (start.source === 'remote' && start.committed) {
    try {
      const loaded = loadConfigText(start.text, join(store.configsDir, start.committed.file), env)
      return { loaded, text: start.text, baseText, source: 'remote', committedAt: start.committed.committed_at, start }
    } catch (err) {
      start.notes.push(`committed remote config ${start.committed.hash.slice(0, 12)} no longer validates (${errorMessage(err)}): running the config file`)
      store.uncommit()
      store.clearColdStarts()
      start.counted = false
      start.committed = null
      start.source = 'file'
    }
  }
  return { ...plain(base, baseText), start }
}

function plain(loaded: LoadedConfig, text: string): Effective {
  return { loaded, text, baseText: text, source: 'file', committedAt: null, start: null }
}

/**
 * The remote config that runs instead of `file` while the file stays as it is, if any. Read only
 * (for `fieldgate check`): nothing in the state directory is changed.
 */
export function committedOver(file: string, c: Config): { hash: string; committedAt: string } | null {
  const m = managedUplink(c)
  if (!m) return null
  const committed = new FleetStore(fleetDir(c), m.management.history).readCommitted()
  if (!committed) return null
  try {
    if (committed.base_hash !== configHash(readFileSync(resolve(file), 'utf8'))) return null
  } catch {
    return null
  }
  return { hash: committed.hash, committedAt: committed.committed_at }
}

/** How the management connection reaches the cloud: the uplink's servers, credentials and TLS, its own client id, clean. */
export function linkSpecOf(c: Config): LinkSpec {
  const u = managedUplink(c)
  if (!u) throw new Error('no uplink has management enabled')
  return {
    servers: serverList(uplinkOptions(u)),
    protocolVersion: u.protocol_version,
    backoff: { min: u.backoff.min, max: u.backoff.max },
    connectArgs(server) {
      const options = clientOptions(uplinkOptions(u), c.gateway.id)
      // Unique per gateway even when gateway.id is left at its default (gateways flashed from one image):
      // a shared client id would make them take each other's session over, and their Last Wills mark them offline.
      options.clientId = u.client_id !== undefined ? `${u.client_id}-mgmt` : `${managementId(c)}-${u.name}-mgmt`
      options.clean = true
      delete options.properties
      delete options.will
      return { url: urlWithOptions(server, options), options }
    },
  }
}

function boardModel(): string | null {
  try {
    return readFileSync('/proc/device-tree/model', 'utf8').replace(/\0/g, '').trim() || null
  } catch {
    return null
  }
}

export interface GatewayFleetDeps {
  file: string
  effective: Effective
  gateway: Gateway
  logger: Logger
  startedAt: number
  check?: ConfigChecker
  env?: NodeJS.ProcessEnv
  /** Recent log lines for remote diagnostics. */
  logs?: (n: number) => string[]
  /** The last over-the-air update's outcome, for the inventory. */
  lastUpdate?: () => UpdateFacts | null
  /**
   * Updates over the channel: the running executable's real path, and how the gateway stops to be
   * restarted into a new one (exit code 75). Without them `update` requests are refused.
   */
  update?: { exe: string; restart: (reason: string) => void }
}

export interface GatewayFleet {
  fleet: Fleet<Config>
  /** A reload from the file (SIGHUP, the status page) succeeded: the fleet runs on what it loaded. */
  adopt(e: Effective): void
}

/** Builds the management channel for a gateway whose config enables it; null when none does. */
export function buildFleet(d: GatewayFleetDeps): GatewayFleet | null {
  const first = d.effective.loaded.config
  const managed = managedUplink(first)
  if (!managed) return null
  const env = d.env ?? process.env
  const store = new FleetStore(fleetDir(first), managed.management.history)
  const model = boardModel()
  let running = first
  const facts = (): InventoryFacts => {
    const parts: InventoryFacts['parts'] = {}
    const backlog: Record<string, number> = {}
    for (const [name, s] of Object.entries(d.gateway.sources())) {
      parts[name] = s.reason ? { health: s.health, reason: s.reason } : { health: s.health }
      if (name.startsWith('uplink:') && typeof s.details.backlog === 'number') backlog[name.slice(7)] = s.details.backlog
    }
    return {
      version: VERSION,
      build: { node: process.version, executable: !/^node(\.exe)?$/.test(basename(process.execPath)) },
      board: { arch: arch(), platform: platform(), model, hostname: hostname() },
      startedAt: d.startedAt,
      parts,
      backlog,
      update: d.lastUpdate?.() ?? null,
    }
  }
  const validate = async (text: string, label: string): Promise<Validation<Config>> => {
    let config: Config
    let checks: CheckLine[]
    if (d.check) {
      const r = d.check(text, label)
      checks = r.checks
      const failed = r.checks.filter((c) => !c.ok)
      if (!r.config) return { ok: false, reason: failed.map((c) => `${c.name}: ${c.detail}`).join('; ') || 'invalid', checks }
      config = r.config
    } else {
      try {
        config = loadConfigText(text, label, env).config
      } catch (err) {
        return { ok: false, reason: `config: ${errorMessage(err)}`, checks: [{ name: 'config', ok: false, detail: errorMessage(err) }] }
      }
      checks = [{ name: 'config', ok: true, detail: 'valid' }]
    }
    const refusal = remoteRefusal(running, config)
    if (refusal !== null) return { ok: false, reason: refusal, checks }
    return { ok: true, config, checks }
  }
  const fleet = createFleet<Config>({
    id: managementId(first),
    logger: d.logger,
    store,
    current: { text: d.effective.text, hash: configHash(d.effective.text), config: first, source: d.effective.source, committedAt: d.effective.committedAt },
    ...(d.effective.start ? { started: d.effective.start } : {}),
    facts,
    diagnostics: { logs: d.logs ?? (() => []), status: () => d.gateway.statusSnapshot() },
    ...(d.update ? { update: updateHost({ config: () => running, exe: d.update.exe, restart: d.update.restart }) } : {}),
    operatorKeys: (c) => (managedUplink(c)?.management.operator_keys ?? []).map((k) => parsePublicKey(k)).filter((k): k is TrustedKey => k !== null),
    settings: (c) => {
      const m = managedUplink(c)
      store.setKeep(m?.management.history ?? 5)
      return { commitDeadline: m?.management.commit_deadline ?? 30_000, inventoryInterval: m?.management.inventory_interval ?? 60_000, protocolVersion: m?.protocol_version ?? 5 }
    },
    host: {
      validate,
      async apply(next) {
        const r = await d.gateway.reload(next)
        d.gateway.reportReload(r, 'remote config')
        if (r.ok) running = next
        return r
      },
      linkSpec: linkSpecOf,
      patch: patchConfigText,
      health: () => Object.fromEntries(Object.entries(d.gateway.sources()).filter(([n]) => n !== 'fleet').map(([n, s]) => [n, s.reason ? { health: s.health, reason: s.reason } : { health: s.health }])),
      required: (c) => c.uplinks.filter((u) => u.management.enabled).map((u) => `uplink:${u.name}`),
      baseHash: () => {
        try {
          return configHash(readFileSync(resolve(d.file), 'utf8'))
        } catch {
          return configHash(d.effective.baseText)
        }
      },
      restart(reason) {
        d.logger.fatal({ reason }, 'exiting so the service manager restarts the gateway on its committed config')
        // Status 1: a failure, which Restart=on-failure restarts (75 means "run another executable" to the update guard).
        setTimeout(() => process.exit(1), 1000).unref()
      },
    },
  })
  return {
    fleet,
    adopt(e) {
      running = e.loaded.config
      fleet.adopt({ text: e.text, hash: configHash(e.text), config: e.loaded.config, source: e.source, committedAt: e.committedAt })
    },
  }
}

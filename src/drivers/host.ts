import { isDeepStrictEqual } from 'node:util'
import { errorMessage, systemClock, type Clock, type LocalBroker, type Logger, type Message, type Reading, type Status, type TimerHandle } from '../core/index.ts'
import { handleCommand, handleRegisterCommand } from './commands.ts'
import { DriverFactory, realHardware, type Hardware } from './factory.ts'
import type { DeviceOptions } from './options.ts'
import { commandTopics, formatReading, topicFor } from './payload.ts'
import { ReportFilter, type ReportRule } from './report.ts'
import type { FieldDriver } from './types.ts'

/** `{point}` of the register command topics: `<topic with {point} = $modbus>/read` and `/write`. */
export const REGISTER_LEVEL = '$modbus'

export type DriverEvent = { type: 'reading'; reading: Reading } | { type: 'state'; device: string; state: string; reason?: string }

export interface DriverHostOptions {
  devices: DeviceOptions[]
  gatewayId: string
  broker: LocalBroker
  logger: Logger
  clock?: Clock
  /** Replaces how serial ports and Modbus links are opened (tests, benchmarks). */
  hardware?: Hardware
  random?: () => number
}

export interface DriverHost {
  start(): Promise<void>
  stop(): Promise<void>
  status(): Status
  onEvent(cb: (e: DriverEvent) => void): () => void
  /**
   * Applies a new device list (config reload): only devices whose options changed restart, with every
   * device on a Modbus line that one of them touches. Resolves with the ids restarted or removed.
   */
  reconfigure(devices: DeviceOptions[]): Promise<string[]>
  /** The running driver of a device (tests use it to push a simulated device into error). */
  driver(id: string): FieldDriver | undefined
}

interface Entry {
  cfg: DeviceOptions
  driver: FieldDriver
  rules: Map<string, PointRule>
  unsubscribe: () => void
}

type PointRule = ReportRule & { qos: 0 | 1 | 2; retain: boolean }

export function createDriverHost(opts: DriverHostOptions): DriverHost {
  const clock = opts.clock ?? systemClock
  const log = opts.logger
  const factory = new DriverFactory({ logger: log, clock, ...(opts.random ? { random: opts.random } : {}) }, opts.hardware ?? realHardware)
  const entries = new Map<string, Entry>()
  const filter = new ReportFilter()
  let listeners: Array<(e: DriverEvent) => void> = []
  let staleTimer: TimerHandle | null = null
  let abort: AbortController | null = null
  let published = 0
  let publishErrors = 0
  let commands = 0

  const fire = (e: DriverEvent): void => {
    for (const l of listeners) {
      try {
        l(e)
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'driver event listener threw')
      }
    }
  }

  const publish = (e: Entry, r: Reading): void => {
    const rule = e.rules.get(r.point)
    const m: Message = {
      topic: topicFor(e.cfg.topic, opts.gatewayId, e.cfg.id, r.point),
      payload: formatReading(r, e.cfg.payload, filter.lastGood(r.device, r.point)?.value),
      qos: rule?.qos ?? e.cfg.qos,
      retain: rule?.retain ?? e.cfg.retain,
      origin: `$driver:${e.cfg.id}`,
      receivedAt: clock.now(),
    }
    published++
    opts.broker.publish(m).catch((err: unknown) => {
      publishErrors++
      log.warn({ device: e.cfg.id, topic: m.topic, err: errorMessage(err) }, 'cannot publish reading')
    })
  }

  const onReading = (e: Entry, r: Reading): void => {
    fire({ type: 'reading', reading: r })
    const rule = e.rules.get(r.point) ?? { maxSilence: 0, staleAfter: 0 }
    if (filter.offer(r, rule, clock.now())) publish(e, r)
  }

  const rulesOf = (cfg: DeviceOptions): Map<string, PointRule> => {
    const rules = new Map<string, PointRule>()
    for (const p of cfg.points) {
      const deadband = p.deadband ?? cfg.deadband
      const every = p.pollInterval ?? cfg.pollInterval
      rules.set(p.name, {
        ...(deadband !== undefined ? { deadband } : {}),
        maxSilence: p.maxSilence ?? cfg.maxSilence,
        staleAfter: cfg.staleAfter ?? 3 * every,
        qos: p.qos ?? cfg.qos,
        retain: p.retain ?? cfg.retain,
      })
    }
    return rules
  }

  let devices = opts.devices

  const startDevice = async (cfg: DeviceOptions, signal: AbortSignal): Promise<void> => {
    const driver = factory.create(cfg)
    const cmd = commandTopics(cfg.topic, opts.gatewayId, cfg.id)
    const ctx = { broker: opts.broker, logger: log.child({ device: cfg.id }), clock, origin: `$driver:${cfg.id}` }
    const unsubs = [
      opts.broker.subscribe(cmd.filter, async (m) => {
        const point = cmd.pointOf(m.topic)
        if (point === null) return
        commands++
        await handleCommand(m, point, driver, ctx)
      }),
    ]
    if (cfg.driver !== 'simulated' && cfg.driver !== 'serial' && cfg.registerCommands) {
      // Commissioning access to any register: off unless the device enables it; the broker's ACL decides who may publish here.
      const base = topicFor(cfg.topic, opts.gatewayId, cfg.id, REGISTER_LEVEL)
      unsubs.push(
        opts.broker.subscribe(`${base}/+`, async (m) => {
          const op = m.topic.slice(base.length + 1)
          if (op !== 'read' && op !== 'write') return
          commands++
          await handleRegisterCommand(m, op, driver, ctx)
        }),
      )
    }
    const unsubscribe = (): void => {
      for (const u of unsubs) u()
    }
    const e: Entry = { cfg, driver, rules: rulesOf(cfg), unsubscribe }
    entries.set(cfg.id, e)
    driver.onState((state, reason) => {
      // A device that stops answering or loses its port is a problem a technician must see (warn).
      if (state === 'error' || state === 'disconnected') log.warn({ device: cfg.id, state, reason }, 'device state')
      else log.info({ device: cfg.id, state, reason }, 'device state')
      fire({ type: 'state', device: cfg.id, state, ...(reason ? { reason } : {}) })
    })
    await driver.start((r) => onReading(e, r), signal)
  }

  const stopDevice = async (id: string): Promise<void> => {
    const e = entries.get(id)
    if (!e) return
    entries.delete(id)
    e.unsubscribe()
    await e.driver.stop().catch(() => undefined)
  }

  const startStaleTimer = (): void => {
    if (staleTimer) clock.clearInterval(staleTimer)
    const minStale = Math.min(...[...entries.values()].flatMap((e) => [...e.rules.values()].map((r) => r.staleAfter)).filter((s) => s > 0), 60_000)
    staleTimer = clock.setInterval(
      () => {
        const stale = filter.stale(clock.now(), (d, p) => entries.get(d)?.rules.get(p))
        for (const r of stale) {
          const e = entries.get(r.device)
          if (e) {
            fire({ type: 'reading', reading: r })
            publish(e, r)
          }
        }
      },
      Math.max(100, Math.floor(minStale / 4)),
    )
    staleTimer.unref?.()
  }

  return {
    async start() {
      if (abort) return
      abort = new AbortController()
      for (const cfg of devices) if (cfg.enabled) await startDevice(cfg, abort.signal)
      startStaleTimer()
    },

    async reconfigure(next) {
      const cur = new Map(devices.map((d) => [d.id, d]))
      const nxt = new Map(next.map((d) => [d.id, d]))
      const changed = new Set([...new Set([...cur.keys(), ...nxt.keys()])].filter((id) => !isDeepStrictEqual(cur.get(id), nxt.get(id))))
      // One RS-485 bus (or RTU gateway) is one line with one set of settings: what shares a touched line restarts with it.
      const touched = new Set<string>()
      for (const id of changed) for (const cfg of [cur.get(id), nxt.get(id)]) if (cfg && factory.lineKey(cfg) !== null) touched.add(factory.lineKey(cfg) as string)
      for (const cfg of [...cur.values(), ...nxt.values()]) if (touched.has(factory.lineKey(cfg) ?? '')) changed.add(cfg.id)
      for (const id of changed) await stopDevice(id)
      await factory.closeLines(touched)
      devices = next
      if (abort) {
        for (const id of changed) {
          const cfg = nxt.get(id)
          if (cfg?.enabled) await startDevice(cfg, abort.signal)
        }
        startStaleTimer()
      }
      return [...changed].sort()
    },

    async stop() {
      if (!abort) return
      abort.abort()
      abort = null
      if (staleTimer) clock.clearInterval(staleTimer)
      staleTimer = null
      await Promise.all([...entries.keys()].map((id) => stopDevice(id)))
      await factory.close()
    },

    status(): Status {
      const devices: Record<string, unknown> = {}
      let bad = 0
      for (const [id, e] of entries) {
        const s = e.driver.status()
        if (s.health !== 'ok') bad++
        devices[id] = { health: s.health, ...(s.reason ? { reason: s.reason } : {}), ...s.details }
      }
      const lines = Object.fromEntries([...factory.lines].map(([k, l]) => [k, { connected: l.connected, pending: l.pending, opens: l.opens, lastLinkError: l.lastLinkError, lastLinkErrorAt: l.lastLinkErrorAt, endpoint: l.endpoint, onBackup: l.onBackup, ...l.counters() }]))
      const health = bad === 0 ? 'ok' : bad === entries.size ? 'down' : 'degraded'
      return {
        health,
        ...(bad ? { reason: `${bad} of ${entries.size} devices not running` } : {}),
        details: { devices, lines, published, publishErrors, commands },
      }
    },

    onEvent(cb) {
      listeners.push(cb)
      return () => {
        listeners = listeners.filter((l) => l !== cb)
      }
    },

    driver(id) {
      return entries.get(id)?.driver
    },
  }
}

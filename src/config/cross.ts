import type { z } from 'zod'
import { isLoopbackAddress } from '../core/net.ts'
import type { DeviceConfig } from './sections/drivers.ts'

/** The parts of the parsed config the cross-field rules read (the full Config type depends on this file). */
interface Parsed {
  broker: { listeners: Array<{ name?: string | undefined; protocol: string; host: string; port: number; tls?: unknown }> }
  status: { enabled: boolean; host: string; port: number; token_file?: string | undefined; basic_auth?: unknown; allow_anonymous: boolean }
  uplinks: Array<{ name: string; management?: { enabled: boolean } }>
  devices: DeviceConfig[]
}

type Path = Array<string | number>

/**
 * Rules that span keys, checked with the schema so `fieldgate check` reports them (with key and line)
 * before anything starts: each of these used to fail only at start, after listeners had opened.
 */
export function crossCheck(c: Parsed, ctx: z.RefinementCtx): void {
  const issue = (path: Path, message: string): void => ctx.addIssue({ code: 'custom', path, message })

  const seenListener = new Map<string, number>()
  for (const [i, l] of c.broker.listeners.entries()) {
    if ((l.protocol === 'mqtts' || l.protocol === 'wss') && l.tls === undefined) {
      issue(['broker', 'listeners', i, 'protocol'], `"${l.protocol}" needs a [broker.listeners.tls] table with cert_file and key_file (or use "${l.protocol === 'mqtts' ? 'mqtt' : 'ws'}")`)
    }
    if (l.name !== undefined) {
      const j = seenListener.get(`name:${l.name}`)
      if (j !== undefined) issue(['broker', 'listeners', i, 'name'], `"${l.name}" is already the name of broker.listeners[${j}]; listener names must differ`)
      else seenListener.set(`name:${l.name}`, i)
    }
    if (l.port === 0) continue
    const j = c.broker.listeners.findIndex((o, k) => k < i && o.port === l.port && sameAddress(o.host, l.host))
    if (j >= 0) issue(['broker', 'listeners', i, 'port'], `${l.host}:${l.port} is already used by broker.listeners[${j}]; each listener needs its own port`)
  }
  if (c.status.enabled && c.status.port !== 0) {
    const j = c.broker.listeners.findIndex((l) => l.port === c.status.port && sameAddress(l.host, c.status.host))
    if (j >= 0) issue(['status', 'port'], `${c.status.port} is also the port of broker.listeners[${j}]; give the status page another port`)
  }

  const st = c.status
  if (st.enabled && !isLoopbackAddress(st.host) && st.token_file === undefined && st.basic_auth === undefined && !st.allow_anonymous) {
    issue(
      ['status', 'host'],
      `"${st.host}" is reachable from the network but the status page has no login: set status.token_file or [status.basic_auth], or status.allow_anonymous = true to serve it to anyone (host = "127.0.0.1" keeps it on this machine)`,
    )
  }

  const uplinkAt = new Map<string, number>()
  for (const [i, u] of c.uplinks.entries()) {
    const j = uplinkAt.get(u.name)
    if (j !== undefined) issue(['uplinks', i, 'name'], `"${u.name}" is already the name of uplinks[${j}]; uplink names must differ (each has its own queue)`)
    else uplinkAt.set(u.name, i)
  }
  const managed = c.uplinks.flatMap((u, i) => (u.management?.enabled ? [i] : []))
  for (const i of managed.slice(1)) {
    issue(['uplinks', i, 'management', 'enabled'], `uplinks[${managed[0]}] already carries the management channel; enable management on one uplink only`)
  }

  const deviceAt = new Map<string, number>()
  const portAt = new Map<string, number>()
  const gatewayAt = new Map<string, number>()
  const shown = (v: unknown): string => (v === undefined ? 'the default' : String(v))
  for (const [i, d] of c.devices.entries()) {
    const j = deviceAt.get(d.id)
    if (j !== undefined) issue(['devices', i, 'id'], `"${d.id}" is already the id of devices[${j}]; device ids must differ (they name topics)`)
    else deviceAt.set(d.id, i)
    if (d.driver === 'serial' && d.format === 'regex') {
      if (d.pattern === undefined) issue(['devices', i, 'pattern'], 'required when format = "regex": a regular expression with named groups, e.g. "T=(?<temp>[0-9.]+)"')
      else {
        try {
          new RegExp(d.pattern)
        } catch (err) {
          issue(['devices', i, 'pattern'], `not a valid regular expression: ${(err as Error).message}`)
        }
      }
    }
    if (d.driver === 'modbus-rtu' || d.driver === 'modbus-tcp' || d.driver === 'modbus-rtu-over-tcp') {
      for (const [k, p] of d.points.entries()) {
        const bits = p.table === 'coil' || p.table === 'discrete'
        const limit = bits ? d.max_bits : d.max_registers
        const width = registerWidth(p)
        if (width > limit) {
          issue(['devices', i, 'points', k, p.type === 'string' ? 'length' : 'type'], `point "${p.name}" spans ${width} registers, more than one request may read (max_registers = ${limit}); raise max_registers or shorten the point`)
        }
      }
    }
    if (d.driver === 'modbus-rtu-over-tcp') {
      // Devices behind one RTU-over-TCP gateway share one line, and a line has one frame_gap.
      const where = `${d.host}:${d.port}`
      const k = gatewayAt.get(where)
      if (k === undefined) gatewayAt.set(where, i)
      else {
        const o = c.devices[k] as DeviceConfig & { driver: 'modbus-rtu-over-tcp' }
        if (o.frame_gap !== d.frame_gap) {
          issue(['devices', i, 'frame_gap'], `${where} is shared with devices[${k}] ("${o.id}") but frame_gap ${shown(d.frame_gap)} differs from ${shown(o.frame_gap)}; devices on one RTU-over-TCP gateway share its line and need the same frame_gap`)
        }
      }
    }
    if (d.driver !== 'serial' && d.driver !== 'modbus-rtu') continue
    const k = portAt.get(d.port)
    if (k === undefined) {
      portAt.set(d.port, i)
      continue
    }
    const o = c.devices[k] as DeviceConfig & { driver: 'serial' | 'modbus-rtu' }
    if (d.driver === 'serial' || o.driver === 'serial') {
      issue(['devices', i, 'port'], `${d.port} is already opened by devices[${k}] ("${o.id}"); a line-protocol (driver = "serial") device needs a port of its own`)
    } else {
      const diff = (['baud', 'data_bits', 'parity', 'stop_bits', 'frame_gap'] as const).filter((key) => d[key] !== o[key])
      if (diff.length > 0) {
        issue(['devices', i, diff[0] as string], `${d.port} is shared with devices[${k}] ("${o.id}") but ${diff.map((key) => `${key} ${shown(d[key])} differs from ${shown(o[key])}`).join(', ')}; devices on one RS-485 line need the same line settings`)
      }
    }
  }
}

/** Registers one point occupies (the same rule the Modbus driver plans reads with). */
function registerWidth(p: { table: string; type: string; length?: number | undefined }): number {
  if (p.table === 'coil' || p.table === 'discrete') return 1
  if (p.type === 'string') return p.length ?? 1
  return { int32: 2, uint32: 2, float32: 2, int64: 4, uint64: 4, float64: 4 }[p.type] ?? 1
}

const ANY = new Set(['0.0.0.0', '::', ''])

/** Two bind addresses that would collide on one port (a wildcard collides with everything). */
function sameAddress(a: string, b: string): boolean {
  const norm = (h: string): string => (h === 'localhost' ? '127.0.0.1' : h.toLowerCase())
  return ANY.has(a) || ANY.has(b) || norm(a) === norm(b)
}

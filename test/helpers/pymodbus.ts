import { track } from './children.ts'
import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { freePort } from './ports.ts'
import { ptyPair, type PtyPair } from './socat.ts'

/**
 * An independent Modbus slave for tests: Debian's pymodbus 3.0 (always /usr/bin/python3) with a small
 * fault layer of ours (test/helpers/pymodbus_server.py), and a paced RTU bus (test/helpers/paced_bus.py).
 *
 *   const peer = await startPymodbus({ mode: 'tcp', units: { 1: { holding: { 0: [1, 2, 3] } } } })
 *   // connect the gateway to 127.0.0.1:peer.port
 *   await peer.set(1, 'holding', 0, [42])                    // change register contents
 *   await peer.fault({ action: 'delay', ms: 1050, fc: 3, address: 0, count: 4, times: 1 })
 *   await peer.fault({ action: 'exception', code: 2, address: 10 })
 *   await peer.strict(true)                                 // refuse reads over undefined addresses (exception 2)
 *   (await peer.stats()).requests                           // requests the slave received, and a log of them
 *   await peer.down(); await peer.up()                      // tcp: connection refused while down
 *   await peer.stop()
 *
 *   const rtu = await startPymodbusRtu(dir, { baudRate: 9600, units: {...} })  // paced bus + slave
 *   // open rtu.path at 9600 8N1; rtu.peer is the same API as above; rtu.stop() stops all of it
 *
 * Fault rules match on optional unit, fc, address+count (overlap with the request's range); `after` skips
 * the first N matches, `times` limits how often the rule applies; the first matching rule wins. Actions:
 * delay (ms), silence, exception (code), truncate (keep bytes), mbap_length (length), tid_offset (n),
 * random (n bytes instead of the answer), garbage (n bytes before it), duplicate (the answer twice).
 * Addresses are zero-based protocol addresses. Every process is stopped by stop() (also after a failure:
 * register stop() in an `after` hook); if the test runner dies, stdin closes and the peers exit.
 */

export type PeerTable = 'holding' | 'input' | 'coil' | 'discrete'
export type UnitData = Partial<Record<PeerTable, Record<number, Array<number | boolean>>>>

interface RuleMatch {
  unit?: number
  fc?: number
  address?: number
  count?: number
  after?: number
  times?: number
}
export type FaultRule = RuleMatch &
  (
    | { action: 'delay'; ms: number }
    | { action: 'silence' }
    | { action: 'exception'; code: number }
    | { action: 'truncate'; keep: number }
    | { action: 'mbap_length'; length: number }
    | { action: 'tid_offset'; n: number }
    | { action: 'random'; n: number }
    | { action: 'garbage'; n: number }
    | { action: 'duplicate' }
  )

export interface PeerRequest {
  t: number
  unit: number
  fc: number
  address: number | null
  count: number
}

export interface PymodbusOptions {
  mode: 'tcp' | 'rtu-over-tcp' | 'rtu'
  /** tcp modes: the port to listen on (a free one if omitted). */
  port?: number
  /** rtu: the serial device (pty end) the slave opens. */
  device?: string
  baudRate?: number
  units?: Record<number, UnitData>
  strict?: boolean
}

export interface PymodbusPeer {
  readonly port: number
  set(unit: number, table: PeerTable, address: number, values: Array<number | boolean>): Promise<void>
  get(unit: number, table: PeerTable, address: number, count: number): Promise<Array<number | boolean>>
  strict(on: boolean): Promise<void>
  /** Adds a fault rule; returns its id. */
  fault(rule: FaultRule): Promise<number>
  clearFaults(): Promise<void>
  stats(): Promise<{ requests: number; log: PeerRequest[] }>
  /** tcp modes: stop listening and close every connection (clients then see connection refused). */
  down(): Promise<void>
  up(): Promise<void>
  /** tcp modes: close every client connection, keep listening. */
  drop(): Promise<void>
  stop(): Promise<void>
}

const here = dirname(fileURLToPath(import.meta.url))
const PYTHON = '/usr/bin/python3'

/** A child speaking one JSON line per command; replies come back in order. */
class JsonChild {
  private waiting: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }> = []
  private stderr = ''
  private readonly exited: Promise<void>
  readonly ready: Promise<Record<string, unknown>>

  constructor(
    private readonly proc: ChildProcess,
    private readonly what: string,
  ) {
    let onReady: (v: Record<string, unknown>) => void = () => undefined
    let onFail: (e: Error) => void = () => undefined
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve
      onFail = reject
    })
    let started = false
    proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000)
    })
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let msg: Record<string, unknown>
      try {
        msg = JSON.parse(line) as Record<string, unknown>
      } catch {
        return
      }
      if (!started) {
        started = true
        onReady(msg)
        return
      }
      this.waiting.shift()?.resolve(msg)
    })
    this.exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        const err = new Error(`${what} exited (${code ?? signal}): ${this.stderr.trim()}`)
        if (!started) onFail(err)
        for (const w of this.waiting.splice(0)) w.reject(err)
        resolve()
      }),
    )
    const guard = setTimeout(() => onFail(new Error(`${what} did not start within 10 s: ${this.stderr.trim()}`)), 10_000)
    void this.ready.finally(() => clearTimeout(guard)).catch(() => undefined)
  }

  async call(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`${this.what} is not running: ${this.stderr.trim()}`)
    const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.proc.stdin?.write(`${JSON.stringify(cmd)}\n`)
    })
    if (reply.ok !== true) throw new Error(`${this.what} ${String(cmd.op)}: ${String(reply.error)}`)
    return reply
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    this.proc.stdin?.end()
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), 3000)
    await this.exited
    clearTimeout(killer)
  }
}

/** Starts a pymodbus slave (see the comment at the top of this file). */
export async function startPymodbus(opts: PymodbusOptions): Promise<PymodbusPeer> {
  const port = opts.mode === 'rtu' ? 0 : (opts.port ?? (await freePort()))
  const args = [join(here, 'pymodbus_server.py'), '--mode', opts.mode, '--units', JSON.stringify(opts.units ?? { 1: {} })]
  if (opts.mode === 'rtu') {
    if (!opts.device) throw new TypeError('startPymodbus: mode rtu needs `device`')
    args.push('--device', opts.device, '--baud', String(opts.baudRate ?? 9600))
  } else args.push('--port', String(port))
  if (opts.strict) args.push('--strict')
  const child = new JsonChild(track(spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] })), `pymodbus ${opts.mode} slave`)
  try {
    await child.ready
  } catch (err) {
    await child.stop()
    throw err
  }
  return {
    port,
    set: async (unit, table, address, values) => void (await child.call({ op: 'set', unit, table, address, values })),
    get: async (unit, table, address, count) => (await child.call({ op: 'get', unit, table, address, count })).values as Array<number | boolean>,
    strict: async (value) => void (await child.call({ op: 'strict', value })),
    fault: async (rule) => (await child.call({ op: 'fault', rule })).id as number,
    clearFaults: async () => void (await child.call({ op: 'clear' })),
    stats: async () => {
      const r = await child.call({ op: 'stats' })
      return { requests: r.requests as number, log: r.log as PeerRequest[] }
    },
    down: async () => void (await child.call({ op: 'down' })),
    up: async () => void (await child.call({ op: 'up' })),
    drop: async () => void (await child.call({ op: 'drop' })),
    stop: () => child.stop(),
  }
}

export interface PacedBus {
  /** The end the gateway (master) opens. */
  readonly master: string
  /** The end the slave opens. */
  readonly slave: string
  stop(): Promise<void>
}

/** Two socat pty pairs joined by a relay that delivers bytes at `baudRate` (10 bits per character). */
export async function pacedBus(dir: string, baudRate: number, name = 'bus'): Promise<PacedBus> {
  const left: PtyPair = await ptyPair(dir, `${name}M`)
  let right: PtyPair | null = null
  let relay: JsonChild | null = null
  const stop = async (): Promise<void> => {
    await relay?.stop()
    await right?.unplug()
    await left.unplug()
  }
  try {
    right = await ptyPair(dir, `${name}S`)
    relay = new JsonChild(track(spawn(PYTHON, [join(here, 'paced_bus.py'), '--a', left.b, '--b', right.a, '--baud', String(baudRate)], { stdio: ['pipe', 'pipe', 'pipe'] })), 'paced bus')
    await relay.ready
  } catch (err) {
    await stop()
    throw err
  }
  return { master: left.a, slave: right.b, stop }
}

/** A pymodbus RTU slave behind a paced bus; `path` is what the gateway opens. */
export async function startPymodbusRtu(
  dir: string,
  opts: { baudRate?: number; units?: Record<number, UnitData>; strict?: boolean; name?: string },
): Promise<{ path: string; peer: PymodbusPeer; stop(): Promise<void> }> {
  const baudRate = opts.baudRate ?? 9600
  const bus = await pacedBus(dir, baudRate, opts.name)
  let peer: PymodbusPeer
  try {
    peer = await startPymodbus({ mode: 'rtu', device: bus.slave, baudRate, units: opts.units, strict: opts.strict })
  } catch (err) {
    await bus.stop()
    throw err
  }
  return {
    path: bus.master,
    peer,
    async stop() {
      await peer.stop()
      await bus.stop()
    },
  }
}

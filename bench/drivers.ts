/**
 * Drivers benchmark (bounded, about 15 s): `node --import tsx bench/drivers.ts [--duration <s>]`
 * 1. Requests per poll cycle for every Modbus device template: one-per-point, Fieldgate's planner, and an
 *    independent optimum (dynamic programming over the same limits), plus the bound if every hole could be read.
 * 2. Polling rate against modbus-serial's ServerTCP (in its own process) with 1,000 holding registers:
 *    Fieldgate's DriverHost (planned reads, decode, report, publish to a counting broker) vs a plain
 *    modbus-serial loop reading the same registers one by one, in the same run.
 * 3. CPU of this process per 1,000 readings/s (process.cpuUsage), for both.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { resolve } from 'node:path'
import ModbusRTU from 'modbus-serial'
import { silentLogger, type LocalBroker, type Message, type Status } from '../src/core/index.ts'
import { deviceSchema, loadDeviceTemplate, type ModbusPointConfig } from '../src/config/sections/drivers.ts'
import { createDriverHost } from '../src/drivers/index.ts'
import { deviceOptions } from '../src/gateway/options/devices.ts'
import { pointWidth } from '../src/drivers/modbus/codec.ts'
import { isBitTable, lowerBound, planReads, type PlanOptions, type PlanPoint } from '../src/drivers/modbus/planner.ts'

const argDuration = process.argv.indexOf('--duration')
const DURATION_MS = Math.min(30, Math.max(1, Number(argDuration > 0 ? process.argv[argDuration + 1] : 3))) * 1000
const POINTS = 1000

/** Fewest requests by dynamic programming: f[j] = min over valid last groups i..j of f[i] + 1. */
function optimum(points: readonly PlanPoint[], o: PlanOptions): number {
  let total = 0
  for (const table of ['coil', 'discrete', 'input', 'holding'] as const) {
    const pts = points.filter((p) => p.table === table).sort((a, b) => a.address - b.address)
    const limit = isBitTable(table) ? o.maxBits : o.maxRegisters
    const f = new Array<number>(pts.length + 1).fill(Infinity)
    f[0] = 0
    for (let j = 1; j <= pts.length; j++) {
      let end = -Infinity
      for (let i = j; i >= 1; i--) {
        const p = pts[i - 1] as PlanPoint
        const next = pts[i] as PlanPoint | undefined
        end = Math.max(end, p.address + p.width)
        if (i < j && next && next.address - (p.address + p.width) > o.maxGap) break
        if (end - p.address > limit) break
        f[j] = Math.min(f[j] as number, (f[i - 1] as number) + 1)
      }
    }
    total += f[pts.length] as number
  }
  return total
}

function templates(): void {
  console.log('\n1. Requests per poll cycle (device templates in hardware/devices)')
  console.log(`${'template'.padEnd(34)}${'points'.padStart(7)}${'one-per-point'.padStart(15)}${'fieldgate'.padStart(11)}${'optimum'.padStart(9)}${'no-gap bound'.padStart(14)}`)
  const dir = resolve('hardware/devices')
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.toml'))) {
    const name = f.replace(/\.toml$/, '')
    const raw = { id: 'bench', ...loadDeviceTemplate(name, [dir]) } as Record<string, unknown>
    if (raw.driver === 'serial' || raw.driver === 'simulated') continue
    if (raw.driver === 'modbus-rtu') raw.port = '/dev/null'
    else raw.host = '127.0.0.1'
    const cfg = deviceSchema.parse(raw)
    if (cfg.driver === 'serial' || cfg.driver === 'simulated') continue
    const pts: PlanPoint[] = cfg.points.map((p: ModbusPointConfig) => ({ key: p.name, table: p.table, address: p.address, width: pointWidth(p) }))
    const o = { maxRegisters: cfg.max_registers, maxBits: cfg.max_bits, maxGap: cfg.max_gap }
    // Points with their own poll interval are polled separately; count them as the device does.
    const groups = new Map<number, PlanPoint[]>()
    cfg.points.forEach((p, i) => {
      const every = p.poll_interval ?? cfg.poll_interval
      groups.set(every, [...(groups.get(every) ?? []), pts[i] as PlanPoint])
    })
    let planned = 0
    let best = 0
    let bound = 0
    for (const g of groups.values()) {
      planned += planReads(g, o).length
      best += optimum(g, o)
      bound += lowerBound(g, o)
    }
    console.log(`${name.padEnd(34)}${String(pts.length).padStart(7)}${String(pts.length).padStart(15)}${String(planned).padStart(11)}${String(best).padStart(9)}${String(bound).padStart(14)}`)
  }
}

const SERVER = `
const { ServerTCP } = require('modbus-serial')
const regs = Array.from({ length: ${POINTS} }, (_, i) => i)
const srv = new ServerTCP({
  getHoldingRegister: (a) => regs[a],
  getMultipleHoldingRegisters: (a, n) => regs.slice(a, a + n),
}, { host: '127.0.0.1', port: Number(process.argv[1]), unitID: 255 })
srv.on('initialized', () => console.log('ready'))
srv.on('socketError', () => {})
`

async function freePort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000)
    const ok = await new Promise<boolean>((r) => {
      const s = createServer()
      s.once('error', () => r(false))
      s.listen(port, '127.0.0.1', () => s.close(() => r(true)))
    })
    if (ok) return port
  }
  throw new Error('no free port in 20000-32000')
}

async function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', SERVER, String(port)], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error('ServerTCP child did not start in 10 s')), 10_000)
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(t)
        res()
      }
    })
  })
  return child
}

interface Result {
  readings: number
  ms: number
  cpuMs: number
}

function measureStart(): () => { ms: number; cpuMs: number } {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  return () => {
    const c = process.cpuUsage(c0)
    return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 }
  }
}

async function fieldgate(port: number): Promise<Result> {
  let readings = 0
  const broker: LocalBroker = {
    async publish(_m: Message) {
      readings++
    },
    subscribe: () => () => undefined,
    status: (): Status => ({ health: 'ok', details: {} }),
    close: async () => undefined,
  }
  const points = Array.from({ length: POINTS }, (_, i) => ({ name: `r${i}`, address: i, type: 'uint16' }))
  const dev = deviceOptions(deviceSchema.parse({ id: 'bench', driver: 'modbus-tcp', host: '127.0.0.1', port, poll_interval: 10, jitter: 0, timeout: 1000, points }))
  const host = createDriverHost({ devices: [dev], gatewayId: 'bench', broker, logger: silentLogger })
  await host.start()
  // Warm up (connect, JIT) before measuring.
  await new Promise((r) => setTimeout(r, 500))
  readings = 0
  const stop = measureStart()
  await new Promise((r) => setTimeout(r, DURATION_MS))
  const n = readings
  const m = stop()
  await host.stop()
  return { readings: n, ...m }
}

async function plainLoop(port: number): Promise<Result> {
  const c = new ModbusRTU()
  await c.connectTCP('127.0.0.1', { port })
  c.setID(1)
  c.setTimeout(1000)
  for (let i = 0; i < 200; i++) await c.readHoldingRegisters(i, 1)
  let readings = 0
  const stop = measureStart()
  const end = performance.now() + DURATION_MS
  while (performance.now() < end) {
    for (let a = 0; a < POINTS && performance.now() < end; a++) {
      await c.readHoldingRegisters(a, 1)
      readings++
    }
  }
  const m = stop()
  await new Promise<void>((r) => c.close(() => r()))
  return { readings, ...m }
}

function line(name: string, r: Result): void {
  const perS = (r.readings * 1000) / r.ms
  const cpuShare = r.cpuMs / r.ms
  console.log(
    `${name.padEnd(44)}${Math.round(perS).toLocaleString('en-US').padStart(10)} readings/s ${(perS / POINTS).toFixed(1).padStart(7)} polls/s   CPU ${(cpuShare * 100).toFixed(1).padStart(5)} %   ${((cpuShare * 100) / (perS / 1000)).toFixed(2).padStart(6)} % of a core per 1,000 readings/s`,
  )
}

async function main(): Promise<void> {
  templates()
  console.log(`\n2./3. Polling ${POINTS} holding registers on ServerTCP (own process), ${DURATION_MS / 1000} s each`)
  const port = await freePort()
  const server = await startServer(port)
  try {
    const plain = await plainLoop(port)
    const fg = await fieldgate(port)
    line('plain modbus-serial loop, one register/read', plain)
    line('Fieldgate DriverHost (planned, published)', fg)
    console.log(`ratio Fieldgate / plain readings per second: ${((fg.readings / fg.ms) / (plain.readings / plain.ms)).toFixed(1)}x`)
  } finally {
    server.kill('SIGTERM')
  }
}

const guard = setTimeout(() => {
  console.error('drivers benchmark exceeded 120 s, aborting')
  process.exit(2)
}, 120_000)
guard.unref()
await main()

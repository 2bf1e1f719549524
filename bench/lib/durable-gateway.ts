/** The gateway side of bench/durable.ts: its config, samples of the child process from /proc, the demo config's rate. */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfigText } from '../../src/config/index.ts'
import { DEMO_CONFIG } from '../../src/demo-config.ts'
import { gatewayToml as baseToml, type GatewayProcess } from '../../test/helpers/gateway.ts'
import { procIo } from './durable-load.ts'
import { cpuMs, rssKb } from './proc.ts'

/**
 * One broker listener, LevelDB in dir/data, status page off, log level warn, and one uplink to
 * `upstream` forwarding data/# with each message's QoS. replay_rate = 0: drain as fast as the window allows.
 */
export function gatewayToml(dir: string, port: number, upstream: number, uplinkWindow: number): string {
  return baseToml({
    id: 'durable-bench',
    port,
    dataDir: join(dir, 'data'),
    extra: `
[[uplinks]]
name = "cloud"
url = "mqtt://127.0.0.1:${upstream}"
window = ${uplinkWindow}
replay_rate = 0
backoff = { min = "100ms", max = "1s" }
[[uplinks.forward]]
filter = "data/#"
`,
  })
}

export interface Sample {
  t: number
  acked: number
  /** Gateway CPU time so far, ms. */
  cpu: number
  writeBytes: number
  wchar: number
  rssKb: number
}

/** Gateway process counters now. Throws if /proc/<pid>/io cannot be read (the figures would be wrong). */
export function sample(gw: GatewayProcess, acked: number): Sample {
  const pid = gw.proc.pid
  if (pid === undefined) throw new Error('bench/durable: gateway child has no pid')
  const io = procIo(pid)
  if (!io) throw new Error(`bench/durable: cannot read /proc/${pid}/io (gateway gone, or not Linux)`)
  return { t: performance.now(), acked, cpu: cpuMs(pid), writeBytes: io.writeBytes, wchar: io.wchar, rssKb: rssKb(pid) }
}

/** Total size of the files directly in `dir` (LevelDB keeps no subdirectories). */
export function dirBytes(dir: string): number {
  let total = 0
  for (const f of readdirSync(dir)) total += statSync(join(dir, f)).size
  return total
}

/** Per-message and per-second figures between two samples of the gateway process. */
export function between(a: Sample, b: Sample, messages: number): { rate: number; cpuPct: number; writeBytes: number; wchar: number } {
  const ms = b.t - a.t
  return { rate: (messages * 1000) / ms, cpuPct: ((b.cpu - a.cpu) / ms) * 100, writeBytes: (b.writeBytes - a.writeBytes) / messages, wchar: (b.wchar - a.wchar) / messages }
}

/** Sensor messages/s of the built-in demo config: each point published once per poll interval. */
export function demoRate(): { rate: number; points: number } {
  const { config } = loadConfigText(DEMO_CONFIG, 'demo-config', {})
  let rate = 0
  let points = 0
  for (const d of config.devices) {
    if (!d.enabled || !('points' in d) || !Array.isArray(d.points)) continue
    for (const p of d.points as Array<{ poll_interval?: number }>) {
      points++
      rate += 1000 / (p.poll_interval ?? d.poll_interval)
    }
  }
  return { rate, points }
}

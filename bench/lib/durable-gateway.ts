/** The gateway side of bench/durable.ts: its config and samples of the child process from /proc. */
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { GatewayProcess } from '../../test/helpers/gateway.ts'
import { procIo } from './durable-load.ts'
import { cpuMs, rssKb } from './proc.ts'

/**
 * One broker listener, LevelDB in dir/data, status page off, log level warn, and one uplink to
 * `upstream` forwarding data/# with each message's QoS. replay_rate = 0: drain as fast as the window allows.
 */
export function gatewayToml(dir: string, port: number, upstream: number, uplinkWindow: number): string {
  return `
[gateway]
id = "durable-bench"
[log]
level = "warn"
[broker]
sys_interval = "60s"
[[broker.listeners]]
host = "127.0.0.1"
port = ${port}
[storage]
data_dir = "${join(dir, 'data')}"
[status]
enabled = false
[[uplinks]]
name = "cloud"
url = "mqtt://127.0.0.1:${upstream}"
window = ${uplinkWindow}
replay_rate = 0
backoff = { min = "100ms", max = "1s" }
[[uplinks.forward]]
filter = "data/#"
`
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

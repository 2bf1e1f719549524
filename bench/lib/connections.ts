import { RawClient } from './client.ts'
import { CpuMeter, rssKb } from './proc.ts'
import { sleep } from './throughput.ts'

export interface ConnectionsSpec {
  kind: 'connections'
  port: number
  brokerPid: number
  count: number
  /** Handshakes (TCP connect + CONNECT/CONNACK) in progress at once. */
  concurrency: number
  /** Idle time after the last CONNACK before reading RSS, so the broker settles. */
  settleMs: number
  timeoutMs: number
}

export interface ConnectionsResult {
  connected: number
  failed: number
  firstError: string | null
  connectsPerSec: number
  rssBeforeKb: number
  rssAfterKb: number
  kbPerConnection: number
  brokerCpuPct: number
  genCpuPct: number
}

const WARMUP_CONNECTIONS = 10

/** Opens `count` idle MQTT connections as fast as the broker accepts them, then reads its RSS. */
export async function runConnections(spec: ConnectionsSpec): Promise<ConnectionsResult> {
  const clients: RawClient[] = []
  let failed = 0
  let firstError: string | null = null
  let next = 0
  const deadline = performance.now() + spec.timeoutMs
  // A few connections first, closed again, so one-off lazy set-up in the broker (e.g. mqtt-packet's
  // 65,536-entry packet-id Buffer cache, built on the first write) is not charged to the idle connections.
  for (let i = 0; i < WARMUP_CONNECTIONS; i++) {
    const c = await RawClient.connect({ port: spec.port, clientId: `bench-warm-${process.pid}-${i}`, keepalive: 600 })
    c.close()
  }
  await sleep(500)
  const rssBeforeKb = rssKb(spec.brokerPid)
  const meter = new CpuMeter(spec.brokerPid)
  meter.start()
  const t0 = performance.now()
  const worker = async (): Promise<void> => {
    // Bounded by count and by the phase deadline.
    while (next < spec.count && performance.now() < deadline) {
      const i = next++
      try {
        clients.push(await RawClient.connect({ port: spec.port, clientId: `bench-idle-${process.pid}-${i}`, keepalive: 600, timeoutMs: 10_000 }))
      } catch (err) {
        failed++
        firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, () => worker()))
  const elapsed = performance.now() - t0
  const cpu = meter.stop()
  await sleep(spec.settleMs)
  const alive = clients.filter((c) => !c.closed).length
  const rssAfterKb = rssKb(spec.brokerPid)
  for (const c of clients) c.close()
  return {
    connected: alive,
    failed: failed + (clients.length - alive),
    firstError,
    connectsPerSec: Math.round((clients.length * 1000) / elapsed),
    rssBeforeKb,
    rssAfterKb,
    kbPerConnection: alive ? Math.round(((rssAfterKb - rssBeforeKb) / alive) * 100) / 100 : Number.NaN,
    ...cpu,
  }
}

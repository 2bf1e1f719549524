import mqtt from 'mqtt-packet'
import { RawClient } from './client.ts'
import { publishPayloadStart } from './frames.ts'
import { CpuMeter } from './proc.ts'
import { sleep } from './throughput.ts'

export interface LatencySpec {
  kind: 'latency'
  port: number
  brokerPid: number
  /** Messages per second from one publisher. */
  rate: number
  qos: 0 | 1
  payloadBytes: number
  warmupMs: number
  durationMs: number
}

export interface LatencyResult {
  p50Ms: number
  p99Ms: number
  maxMs: number
  samples: number
  sent: number
  lost: number
  /** Messages received by the subscriber in the measured interval (the CPU figures cover that interval). */
  delivered: number
  brokerCpuPct: number
  genCpuPct: number
  brokerCpuMs: number
}

const MAX_BURST = 50

/**
 * One publisher at a fixed rate, one subscriber on its own socket; each payload starts with the
 * publish time (hrtime ns), so both ends read the same clock.
 */
export async function runLatency(spec: LatencySpec): Promise<LatencyResult> {
  const maxSamples = Math.ceil(((spec.warmupMs + spec.durationMs) * spec.rate) / 1000) + MAX_BURST
  const samples = new Float64Array(maxSamples)
  let count = 0
  let measuring = false
  let received = 0
  const sub = await RawClient.connect({
    port: spec.port,
    clientId: `bench-lat-sub-${process.pid}`,
    onPublish: (qos, buf, start) => {
      const now = process.hrtime.bigint()
      received++
      if (!measuring || count >= maxSamples) return
      const sentAt = buf.readBigUInt64BE(publishPayloadStart(buf, start, qos))
      samples[count++] = Number(now - sentAt) / 1e6
    },
  })
  await sub.subscribe('bench/lat', spec.qos)
  const pub = await RawClient.connect({ port: spec.port, clientId: `bench-lat-pub-${process.pid}` })
  const payload = Buffer.alloc(Math.max(8, spec.payloadBytes), 0x61)
  const template = mqtt.generate({ cmd: 'publish', topic: 'bench/lat', payload, qos: spec.qos, messageId: spec.qos ? 1 : undefined, retain: false, dup: false })
  const payloadOffset = template.length - payload.length
  const idOffset = payloadOffset - 2

  let sent = 0
  let nextId = 1
  const t0 = performance.now()
  const end = t0 + spec.warmupMs + spec.durationMs
  let measureFrom = 0
  let receivedFrom = 0
  const meter = new CpuMeter(spec.brokerPid)
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now()
      if (!measuring && now - t0 >= spec.warmupMs) {
        measuring = true
        measureFrom = sent
        receivedFrom = received
        meter.start()
      }
      if (now >= end) return resolve()
      const due = Math.min(MAX_BURST, Math.floor(((now - t0) * spec.rate) / 1000) - sent)
      for (let i = 0; i < due; i++) {
        const out = Buffer.from(template)
        if (spec.qos) {
          out.writeUInt16BE(nextId, idOffset)
          nextId = nextId === 65535 ? 1 : nextId + 1
        }
        out.writeBigUInt64BE(process.hrtime.bigint(), payloadOffset)
        pub.write(out)
        sent++
      }
      setTimeout(tick, 1)
    }
    tick()
  })
  const cpu = meter.stop()
  const deliveredMeasured = received - receivedFrom
  // Let the last deliveries arrive (bounded) before counting losses.
  for (let i = 0; i < 50 && received < sent; i++) await sleep(10)
  measuring = false
  pub.close()
  sub.close()
  const sorted = samples.subarray(0, count).sort()
  const pct = (p: number): number => (count ? round3(sorted[Math.min(count - 1, Math.floor((count * p) / 100))] as number) : Number.NaN)
  return {
    p50Ms: pct(50),
    p99Ms: pct(99),
    maxMs: count ? round3(sorted[count - 1] as number) : Number.NaN,
    samples: count,
    sent: sent - measureFrom,
    lost: sent - received,
    delivered: deliveredMeasured,
    ...cpu,
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}

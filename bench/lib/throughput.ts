import mqtt from 'mqtt-packet'
import { RawClient } from './client.ts'
import { publishPayloadStart } from './frames.ts'
import { DeliveryWindow } from './delivery-window.ts'
import { CpuMeter } from './proc.ts'

export interface ThroughputSpec {
  kind: 'throughput'
  port: number
  brokerPid: number
  publishers: number
  subscribers: number
  qos: 0 | 1
  /** PUBLISHes carry the RETAIN flag (each replaces its topic's retained message). */
  retain?: boolean
  payloadBytes: number
  warmupMs: number
  durationMs: number
  /** Messages published but not yet delivered to every subscriber, across all publishers. */
  window: number
  /** QoS 1: PUBLISHes awaiting PUBACK per publisher. */
  pubWindow: number
  /** Fewest PUBLISHes worth a write while others are in flight (fewer syscalls vs deeper pipelining). */
  minBatch: number
}

export interface ThroughputResult {
  deliveriesPerSec: number
  delivered: number
  published: number
  /** Deliveries whose payload was not the 64 bytes sent (should be 0: a check on broker and harness). */
  malformed: number
  /** Deliveries given up on after a 300 ms stall and not received later (a broker that drops QoS 0 under load). */
  lost: number
  stalls: number
  brokerCpuPct: number
  genCpuPct: number
  /** Broker CPU (user + system, /proc/<pid>/stat) over the measured interval, ms. */
  brokerCpuMs: number
  measuredMs: number
}

/** Most PUBLISHes in one write. */
const MAX_BATCH = 256
const STALL_TICKS = 3
const TICK_MS = 100

interface PubState {
  inflight: number
  nextId: number
  blocked: boolean
}

interface Pub {
  client: RawClient
  template: Buffer
  /** Offset of the packet id inside one encoded PUBLISH (QoS 1 only). */
  idOffset: number
  /** QoS 0: BATCH copies of the template, written as slices (never mutated). */
  batch: Buffer
  st: PubState
}

function encodeTemplate(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): { template: Buffer; idOffset: number } {
  const template = mqtt.generate({ cmd: 'publish', topic, payload, qos, messageId: qos > 0 ? 1 : undefined, retain, dup: false })
  // Fixed header (1 byte + 1..4 length bytes) then the topic length and topic; the id follows [MQTT-3.3.2].
  const headerLen = template.length - (2 + Buffer.byteLength(topic) + (qos > 0 ? 2 : 0) + payload.length)
  return { template, idOffset: headerLen + 2 + Buffer.byteLength(topic) }
}

/** N publishers → M subscribers on `bench/#`, flow-controlled by a global delivery window. */
export async function runThroughput(spec: ThroughputSpec): Promise<ThroughputResult> {
  const subs: RawClient[] = []
  const pubs: Pub[] = []
  const expectedPerMsg = spec.subscribers
  const win = new DeliveryWindow(spec.window * expectedPerMsg)
  let malformed = 0
  let running = false
  // One refill per event-loop turn, after every socket read of that turn: a broker that sends each
  // PUBACK in its own segment would otherwise make the generator write tiny batches per read.
  let pumpScheduled = false
  const schedulePump = (): void => {
    if (pumpScheduled) return
    pumpScheduled = true
    setImmediate(() => {
      pumpScheduled = false
      pump()
    })
  }
  const onChunk = schedulePump
  try {
    for (let i = 0; i < spec.subscribers; i++) {
      const c = await RawClient.connect({
        port: spec.port,
        clientId: `bench-sub-${process.pid}-${i}`,
        onPublish: (qos, buf, start, end) => {
          win.onDelivered()
          if (end - publishPayloadStart(buf, start, qos) !== spec.payloadBytes) malformed++
        },
        onChunk,
      })
      await c.subscribe('bench/#', spec.qos)
      subs.push(c)
    }
    const payload = Buffer.alloc(spec.payloadBytes, 0x61)
    for (let i = 0; i < spec.publishers; i++) {
      const st: PubState = { inflight: 0, nextId: 1, blocked: false }
      const client = await RawClient.connect({
        port: spec.port,
        clientId: `bench-pub-${process.pid}-${i}`,
        onPubacks: (n) => {
          st.inflight = Math.max(0, st.inflight - n)
        },
        onChunk,
      })
      client.socket.on('drain', () => {
        st.blocked = false
        schedulePump()
      })
      const { template, idOffset } = encodeTemplate(`bench/p${i}`, payload, spec.qos, spec.retain === true)
      const batch = spec.qos === 0 ? Buffer.concat(Array.from({ length: MAX_BATCH }, () => template)) : Buffer.alloc(0)
      pubs.push({ client, template, idOffset, batch, st })
    }
  } catch (err) {
    for (const c of [...subs, ...pubs.map((p) => p.client)]) c.close()
    throw err
  }

  let rr = 0

  function pump(): void {
    if (!running) return
    const outstanding = win.outstanding()
    let room = Math.floor(win.room() / expectedPerMsg)
    // Fewer, larger writes: wait for at least minBatch of room while anything is still in flight
    // (its delivery or PUBACK will call pump again). One pass, one write per publisher at most.
    const share = Math.max(spec.minBatch, Math.ceil(room / pubs.length))
    for (let k = 0; k < pubs.length && room > 0; k++) {
      const idx = (rr + k) % pubs.length
      const p = pubs[idx] as Pub
      const st = p.st
      if (st.blocked) continue
      let n = Math.min(MAX_BATCH, share, room)
      if (spec.qos === 1) n = Math.min(n, spec.pubWindow - st.inflight)
      if (n <= 0 || (n < spec.minBatch && (outstanding > 0 || st.inflight > 0))) continue
      const len = p.template.length
      let out: Buffer
      if (spec.qos === 0) out = p.batch.subarray(0, n * len)
      else {
        out = Buffer.allocUnsafe(n * len)
        out.fill(p.template)
        for (let j = 0; j < n; j++) {
          out.writeUInt16BE(st.nextId, j * len + p.idOffset)
          st.nextId = st.nextId === 65535 ? 1 : st.nextId + 1
        }
        st.inflight += n
      }
      win.onSent(n * expectedPerMsg)
      room -= n
      if (!p.client.write(out)) st.blocked = true
    }
    rr = (rr + 1) % pubs.length
  }

  // Stall detector: a broker may legitimately drop QoS 0 deliveries; count them and move on.
  let lastDelivered = -1
  let still = 0
  let stalls = 0
  const ticker = setInterval(() => {
    if (win.delivered === lastDelivered && win.outstanding() > 0) {
      if (++still >= STALL_TICKS) {
        win.writeOff()
        for (const p of pubs) p.st.inflight = 0
        stalls++
        still = 0
      }
    } else still = 0
    lastDelivered = win.delivered
    pump()
  }, TICK_MS)

  running = true
  pump()
  await sleep(spec.warmupMs)
  const meter = new CpuMeter(spec.brokerPid)
  meter.start()
  const d0 = win.delivered
  const s0 = win.sent
  const l0 = win.lost
  const t0 = performance.now()
  await sleep(spec.durationMs)
  const d1 = win.delivered
  const t1 = performance.now()
  const cpu = meter.stop()
  const result: ThroughputResult = {
    deliveriesPerSec: Math.round(((d1 - d0) * 1000) / (t1 - t0)),
    delivered: d1 - d0,
    published: Math.round((win.sent - s0) / expectedPerMsg),
    malformed,
    // Negative when deliveries written off during warm-up arrived later: none lost in the measured part.
    lost: Math.max(0, win.lost - l0),
    stalls,
    ...cpu,
    measuredMs: Math.round(t1 - t0),
  }
  running = false
  clearInterval(ticker)
  for (const p of pubs) p.client.close()
  for (const s of subs) s.close()
  return result
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

import { connect, type Socket } from 'node:net'
import mqttPacket from 'mqtt-packet'

/**
 * A login storm from raw sockets: `count` TCP connections are opened first, then every one sends its
 * CONNECT in the same tick, so the broker sees them all at once. Each socket waits for its CONNACK (or
 * the close) and is then destroyed. Bounded by `timeoutMs`. Used by the storm tests and bench/login-storm.
 */
export interface StormOptions {
  port: number
  count: number
  username: string
  password: string
  protocolVersion?: 4 | 5
  /** Source addresses, used in turn (any 127.x.y.z works on Linux loopback); default 127.0.0.1. */
  localAddresses?: string[]
  timeoutMs?: number
}

export interface StormResult {
  /** CONNACK code (3.1.1 return code or v5 reason code) → how many sockets got it. */
  codes: Map<number, number>
  /** Sockets closed or timed out without a CONNACK. */
  noConnack: number
}

export async function loginStorm(o: StormOptions): Promise<StormResult> {
  const version = o.protocolVersion ?? 4
  const deadline = Date.now() + (o.timeoutMs ?? 60_000)
  const sockets: Socket[] = []
  const answers: Array<Promise<number | null>> = []
  const opened: Array<Promise<boolean>> = []
  for (let i = 0; i < o.count; i++) {
    const localAddress = o.localAddresses?.[i % o.localAddresses.length]
    const s = connect({ host: '127.0.0.1', port: o.port, ...(localAddress ? { localAddress } : {}) })
    s.setNoDelay(true)
    sockets.push(s)
    opened.push(new Promise((r) => (s.once('connect', () => r(true)), s.once('error', () => r(false)))))
    answers.push(
      new Promise((resolve) => {
        let buf = Buffer.alloc(0)
        const t = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()))
        const done = (code: number | null): void => {
          clearTimeout(t)
          resolve(code)
        }
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d])
          // CONNACK: 0x20, remaining length, flags, then the return / reason code in both versions
          if (buf.length >= 4 && buf[0] === 0x20) done(buf[3] as number)
        })
        s.once('close', () => done(null))
        s.on('error', () => undefined)
      }),
    )
  }
  await Promise.all(opened)
  for (const [i, s] of sockets.entries()) {
    if (s.destroyed) continue
    const packet = mqttPacket.generate(
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `storm-${i}`, clean: true, keepalive: 60, username: o.username, password: Buffer.from(o.password) },
      { protocolVersion: version },
    )
    s.write(packet)
  }
  const results = await Promise.all(answers)
  for (const s of sockets) s.destroy()
  const codes = new Map<number, number>()
  let noConnack = 0
  for (const r of results) {
    if (r === null) noConnack++
    else codes.set(r, (codes.get(r) ?? 0) + 1)
  }
  return { codes, noConnack }
}

/** Source addresses 127.x.y.z for `n` distinct hosts on the loopback network, starting at the `from`-th. */
export function loopbackHosts(n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k
    return `127.${1 + Math.floor(i / 40_000)}.${10 + Math.floor((i % 40_000) / 200)}.${1 + (i % 200)}`
  })
}

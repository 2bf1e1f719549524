import type { Socket } from 'node:net'
import type { ConnectionInfo } from './hooks.ts'
import type { Stats } from './stats.ts'
import type { BrokerLimits } from './types.ts'

/** A connection as admission sees it. */
export interface Admitted {
  /** Key of the per-address limits it counts under (null: exempt); set by added(). */
  addressKey: string | null
  readonly info: ConnectionInfo
  destroy(): void
}

interface Counts {
  all: number
  pending: number
}

/** One key per host: an IPv4 peer on a dual-stack socket (::ffff:a.b.c.d) counts as a.b.c.d. */
export function addressKey(address: string): string {
  const a = address.toLowerCase()
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a
}

/**
 * Who may open a connection. Connections that have not finished CONNECT ("pending": no CONNECT yet, or
 * its authentication not answered) are capped per address, and when max_connections is reached the
 * oldest pending one makes room: idle sockets, from one host or many, cannot keep devices out. Connected
 * clients are capped per address and never displaced. Refused sockets are closed by the caller at once;
 * each refusal is counted in limitHits and logged rate-limited (Stats.limit).
 */
export class Admission {
  /** Pending connections, oldest first (a Set keeps insertion order). */
  private readonly pending = new Set<Admitted>()
  private readonly perAddress = new Map<string, Counts>()
  /** Sockets in a TLS handshake or WebSocket upgrade per address key, and the key of each ("address|port"). */
  private readonly handshaking = new Map<string, number>()
  private readonly inHandshake = new Map<string, string>()
  private exemptList: readonly string[] | null = null
  private exempt = new Set<string>()

  constructor(
    private readonly limits: () => BrokerLimits,
    private readonly stats: Stats,
  ) {}

  get pendingCount(): number {
    return this.pending.size
  }

  /**
   * Whether a new connection from `info` may open while `open` connections are. May close the oldest
   * pending connection to make room. Returns the address key to pass to added() (null: exempt), or false.
   */
  admit(info: ConnectionInfo, open: number): string | null | false {
    const limits = this.limits()
    const key = this.isExempt(info.remoteAddress) ? null : addressKey(info.remoteAddress)
    const remote = `${info.remoteAddress}:${info.remotePort}`
    this.handshakeDone(`${info.remoteAddress}|${info.remotePort}`) // handed over by its listener
    const counts = key === null ? undefined : this.perAddress.get(key)
    if (key !== null) {
      if (counts !== undefined && limits.maxConnectionsPerAddress > 0 && counts.all >= limits.maxConnectionsPerAddress) {
        this.stats.limit('connections_per_address', remote, `max_connections_per_address (${limits.maxConnectionsPerAddress}) reached for ${key}`)
        return false
      }
      if (this.pendingFull(key, counts, remote)) return false
    }
    if (open >= limits.maxConnections) {
      const oldest = this.pending.values().next().value
      if (oldest === undefined) {
        this.stats.limit('connections', remote, `max_connections (${limits.maxConnections}) reached`)
        return false
      }
      this.stats.limit(
        'pending_evicted',
        `${oldest.info.remoteAddress}:${oldest.info.remotePort}`,
        `max_connections (${limits.maxConnections}) reached; the oldest connection awaiting CONNECT is closed for ${remote}`,
      )
      oldest.destroy()
    }
    return key
  }

  /** A connection admitted under `key` (from admit) opened; it is pending until established(). */
  added(c: Admitted, key: string | null): void {
    c.addressKey = key
    this.pending.add(c)
    if (key === null) return
    const counts = this.perAddress.get(key)
    if (counts === undefined) this.perAddress.set(key, { all: 1, pending: 1 })
    else {
      counts.all++
      counts.pending++
    }
  }

  /** CONNECT accepted: the connection is no longer pending. */
  established(c: Admitted): void {
    if (!this.pending.delete(c) || c.addressKey === null) return
    const counts = this.perAddress.get(c.addressKey)
    if (counts !== undefined) counts.pending--
  }

  removed(c: Admitted): void {
    const wasPending = this.pending.delete(c)
    if (c.addressKey === null) return
    const counts = this.perAddress.get(c.addressKey)
    if (counts === undefined) return
    counts.all--
    if (wasPending) counts.pending--
    if (counts.all <= 0) this.perAddress.delete(c.addressKey)
  }

  /**
   * A TLS or WebSocket listener accepted `socket`: until its handshake ends and the broker gets it, it
   * counts towards max_pending_per_address, so sockets that never start a handshake are capped as well.
   */
  handshake(socket: Socket): void {
    const address = socket.remoteAddress ?? ''
    if (this.limits().maxPendingPerAddress === 0 || this.isExempt(address)) return
    const key = addressKey(address)
    if (this.pendingFull(key, this.perAddress.get(key), `${address}:${socket.remotePort}`)) {
      socket.destroy()
      return
    }
    const tuple = `${address}|${socket.remotePort}`
    this.inHandshake.set(tuple, key)
    this.handshaking.set(key, (this.handshaking.get(key) ?? 0) + 1)
    socket.once('close', () => this.handshakeDone(tuple))
  }

  private handshakeDone(tuple: string): void {
    const key = this.inHandshake.get(tuple)
    if (key === undefined) return
    this.inHandshake.delete(tuple)
    const n = (this.handshaking.get(key) ?? 1) - 1
    if (n > 0) this.handshaking.set(key, n)
    else this.handshaking.delete(key)
  }

  /** Counts (and logs) a refusal when `key` already has max_pending_per_address sockets in handshakes or awaiting CONNECT. */
  private pendingFull(key: string, counts: Counts | undefined, remote: string): boolean {
    const max = this.limits().maxPendingPerAddress
    if (max === 0 || (counts?.pending ?? 0) + (this.handshaking.get(key) ?? 0) < max) return false
    this.stats.limit('pending_per_address', remote, `max_pending_per_address (${max}) connections from ${key} await CONNECT`)
    return true
  }

  private isExempt(address: string): boolean {
    const list = this.limits().perAddressExempt
    if (list !== this.exemptList) {
      this.exemptList = list
      this.exempt = new Set(list.map(addressKey))
    }
    return this.exempt.has(addressKey(address))
  }
}

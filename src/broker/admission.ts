import type { BrokerConfig } from '../config/index.ts'
import type { Connection } from './connection.ts'
import type { ConnectionInfo } from './hooks.ts'
import type { Stats } from './stats.ts'

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
  private readonly pending = new Set<Connection>()
  private readonly perAddress = new Map<string, Counts>()
  private exemptList: readonly string[] | null = null
  private exempt = new Set<string>()

  constructor(
    private readonly limits: () => BrokerConfig['limits'],
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
    const counts = key === null ? undefined : this.perAddress.get(key)
    if (counts !== undefined) {
      if (limits.max_connections_per_address > 0 && counts.all >= limits.max_connections_per_address) {
        this.stats.limit('connections_per_address', remote, `max_connections_per_address (${limits.max_connections_per_address}) reached for ${key}`)
        return false
      }
      if (limits.max_pending_per_address > 0 && counts.pending >= limits.max_pending_per_address) {
        this.stats.limit('pending_per_address', remote, `max_pending_per_address (${limits.max_pending_per_address}) connections from ${key} await CONNECT`)
        return false
      }
    }
    if (open >= limits.max_connections) {
      const oldest = this.pending.values().next().value
      if (oldest === undefined) {
        this.stats.limit('connections', remote, `max_connections (${limits.max_connections}) reached`)
        return false
      }
      this.stats.limit(
        'pending_evicted',
        `${oldest.info.remoteAddress}:${oldest.info.remotePort}`,
        `max_connections (${limits.max_connections}) reached; the oldest connection awaiting CONNECT is closed for ${remote}`,
      )
      oldest.destroy()
    }
    return key
  }

  /** A connection admitted under `key` (from admit) opened; it is pending until established(). */
  added(c: Connection, key: string | null): void {
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
  established(c: Connection): void {
    if (!this.pending.delete(c) || c.addressKey === null) return
    const counts = this.perAddress.get(c.addressKey)
    if (counts !== undefined) counts.pending--
  }

  removed(c: Connection): void {
    const wasPending = this.pending.delete(c)
    if (c.addressKey === null) return
    const counts = this.perAddress.get(c.addressKey)
    if (counts === undefined) return
    counts.all--
    if (wasPending) counts.pending--
    if (counts.all <= 0) this.perAddress.delete(c.addressKey)
  }

  private isExempt(address: string): boolean {
    const list = this.limits().per_address_exempt
    if (list !== this.exemptList) {
      this.exemptList = list
      this.exempt = new Set(list.map(addressKey))
    }
    return this.exempt.has(addressKey(address))
  }
}

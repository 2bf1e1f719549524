import { isDeepStrictEqual } from 'node:util'
import { errorMessage } from '../../core/errors.ts'
import type { Logger } from '../../core/logger.ts'
import type { BrokerLimits, ListeningOn } from '../types.ts'
import { listenerName, startListener } from './index.ts'
import type { ConnectionHandler, SocketGate, StartedListener } from './types.ts'
import type { ListenerOptions } from '../options.ts'

const WILDCARD = new Set(['0.0.0.0', '::', ''])
/** Two bind addresses that collide on one port (a wildcard collides with every address). */
const overlaps = (a: string, b: string): boolean => WILDCARD.has(a) || WILDCARD.has(b) || a.toLowerCase() === b.toLowerCase()

interface Entry {
  cfg: ListenerOptions
  listener: StartedListener
  index: number
}

export interface ListenerSetOptions {
  logger: Logger
  limits: Pick<BrokerLimits, 'connectTimeout' | 'maxPacketSize'>
  onConnection: ConnectionHandler
  /** Sees each TCP socket of a TLS or WebSocket listener before its handshake (admission). */
  gate: SocketGate
  /** A listener closed by a reload: its clients came in under the old settings and reconnect under the new ones. */
  dropClients(listener: string): void
}

/** The broker's open listeners: opened at start, changed all or nothing on reload, closed at shutdown. */
export class ListenerSet {
  private readonly open: Entry[] = []

  constructor(private readonly o: ListenerSetOptions) {}

  list(): ListeningOn[] {
    return this.open.map(({ listener: l }) => ({ name: l.name, protocol: l.protocol, host: l.host, port: l.port }))
  }

  async openAll(cfgs: ListenerOptions[]): Promise<ListeningOn[]> {
    const out: ListeningOn[] = []
    for (const [i, cfg] of cfgs.entries()) {
      const entry = await this.bind(cfg, i)
      const l = entry.listener
      this.open.push(entry)
      this.o.logger.info({ listener: l.name, protocol: l.protocol, host: l.host, port: l.port }, 'MQTT listener open')
      out.push({ name: l.name, protocol: l.protocol, host: l.host, port: l.port })
    }
    return out
  }

  /**
   * All or nothing: listeners on new addresses are bound before any old one closes; one that needs an
   * address an old listener holds is bound after that one closed, and if it fails the old listeners are
   * opened again. On failure the previous listeners are the ones open, and the error says why.
   */
  async reconfigure(next: ListenerOptions[]): Promise<string[]> {
    const kept = new Set<ListenerOptions>()
    const closing: Entry[] = []
    for (const entry of this.open) {
      const same = next.find((n, i) => !kept.has(n) && listenerName(n, i) === entry.listener.name && isDeepStrictEqual(n, entry.cfg))
      if (same) kept.add(same)
      else closing.push(entry)
    }
    const opening = [...next.entries()].filter(([, cfg]) => !kept.has(cfg))
    const heldByClosing = (cfg: ListenerOptions): boolean => cfg.port !== 0 && closing.some((o) => o.cfg.port === cfg.port && overlaps(o.cfg.host, cfg.host))
    const opened: Entry[] = []
    const closeOpened = async (): Promise<void> => {
      for (const o of opened.splice(0)) await o.listener.close()
    }
    try {
      for (const [i, cfg] of opening) if (!heldByClosing(cfg)) opened.push(await this.bind(cfg, i))
    } catch (err) {
      await closeOpened()
      throw err
    }
    for (const o of closing) await this.closeForReload(o.listener)
    try {
      for (const [i, cfg] of opening) if (heldByClosing(cfg)) opened.push(await this.bind(cfg, i))
    } catch (err) {
      await closeOpened()
      for (const o of closing) {
        // Reopening what was just closed on the same address; if even that fails, say so loudly.
        await this.bind(o.cfg, o.index).then(
          (r) => this.open.push(r),
          (e: unknown) => this.o.logger.error({ listener: o.listener.name, err: errorMessage(e) }, 'MQTT listener could not be reopened after a failed reload'),
        )
      }
      throw err
    }
    this.open.push(...opened)
    for (const o of opened) this.o.logger.info({ listener: o.listener.name, protocol: o.listener.protocol, host: o.listener.host, port: o.listener.port }, 'MQTT listener open')
    const changed = closing.map((o) => o.listener.name)
    for (const o of opened) if (!changed.includes(o.listener.name)) changed.push(o.listener.name)
    return changed
  }

  /** Stop accepting; resolves once each listener's connections are gone (the broker closes them). */
  closeAll(): Promise<void> {
    return Promise.all(this.open.map(({ listener: l }) => l.close())).then(() => undefined)
  }

  private async bind(cfg: ListenerOptions, index: number): Promise<Entry> {
    const limits = this.o.limits
    // TLS handshakes and WebSocket upgrades get the CONNECT deadline too; a WebSocket message may hold one whole packet.
    const secure = { handshakeTimeout: limits.connectTimeout, maxPayload: limits.maxPacketSize + 16 }
    const l = await startListener(cfg, index, this.o.onConnection, this.o.logger, secure, this.o.gate)
    return { cfg, listener: l, index }
  }

  private async closeForReload(l: StartedListener): Promise<void> {
    this.open.splice(
      this.open.findIndex((x) => x.listener === l),
      1,
    )
    const closed = l.close()
    this.o.dropClients(l.name)
    await closed
    this.o.logger.info({ listener: l.name }, 'MQTT listener closed (config reload)')
  }
}

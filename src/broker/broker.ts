import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { isDeepStrictEqual } from 'node:util'
import type { BrokerConfig, ListenerConfig } from '../config/index.ts'
import { systemClock, type Clock, type TimerHandle } from '../core/clock.ts'
import { FieldgateError, errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { RetainedStore } from '../core/persistence.ts'
import type { Message, Status } from '../core/types.ts'
import { Admission } from './admission.ts'
import { Connection } from './connection.ts'
import { DeliveryEngine } from './delivery.ts'
import { openHooks, type BrokerHooks, type ClientIdentity, type ConnectionInfo } from './hooks.ts'
import { listenerName, startListener, type StartedListener } from './listeners/index.ts'
import { Persistence } from './persist.ts'
import { MemoryRetainedStore, MemorySessionStore } from './persistence/memory.ts'
import { RetainedTree } from './retained.ts'
import { route } from './router.ts'
import type { Session } from './session.ts'
import { SessionRegistry } from './sessions.ts'
import { Stats } from './stats.ts'
import { SysPublisher } from './sys.ts'
import { parseFilter, topicNameProblem } from './topics.ts'
import { TopicTrie } from './trie.ts'
import type { Broker, BrokerOptions, ListeningOn, LocalHandler, LocalSubscribeOptions, Subscription } from './types.ts'

const SWEEP_MS = 500
const WILDCARD = new Set(['0.0.0.0', '::', ''])
/** Two bind addresses that collide on one port (a wildcard collides with every address). */
const overlaps = (a: string, b: string): boolean => WILDCARD.has(a) || WILDCARD.has(b) || a.toLowerCase() === b.toLowerCase()
const ignore = (): void => undefined
const LOCAL_LIMITS = { maxLength: 65535, maxLevels: 65535 }

export class MqttBroker implements Broker {
  readonly config: BrokerConfig
  readonly logger: Logger
  readonly clock: Clock
  readonly hooks: BrokerHooks
  readonly gatewayId: string
  readonly stats: Stats
  readonly trie = new TopicTrie()
  readonly retained = new RetainedTree()
  readonly retainedStore: RetainedStore
  readonly persistence: Persistence
  readonly delivery: DeliveryEngine
  readonly sessions: SessionRegistry
  readonly connections = new Set<Connection>()
  readonly admission: Admission
  /** max_topic_length / max_topic_levels for client topics and filters. */
  readonly topicLimits: { maxLength: number; maxLevels: number }
  private readonly listeners: Array<{ cfg: ListenerConfig; l: StartedListener; index: number }> = []
  private readonly sys: SysPublisher
  private sweepTimer: TimerHandle | null = null
  private serial = 0
  private closing = false

  constructor(opts: BrokerOptions) {
    this.config = opts.config
    this.logger = opts.logger
    this.clock = opts.clock ?? systemClock
    this.hooks = opts.hooks ?? openHooks
    this.gatewayId = opts.gatewayId
    this.stats = new Stats(this.clock, this.logger)
    this.admission = new Admission(() => this.config.limits, this.stats)
    this.topicLimits = { maxLength: this.config.limits.max_topic_length, maxLevels: this.config.limits.max_topic_levels }
    this.retainedStore = opts.retained ?? new MemoryRetainedStore()
    this.persistence = new Persistence(opts.sessions ?? new MemorySessionStore(), this.stats.logs)
    this.delivery = new DeliveryEngine(this)
    this.sessions = new SessionRegistry(this)
    this.sys = new SysPublisher(this)
    this.hooks.onRevoke?.((who) => {
      const match = (id: ClientIdentity): boolean =>
        who.some((w) => (w.username !== undefined && w.username === id.username) || (w.deviceId !== undefined && w.deviceId === id.deviceId))
      this.disconnectWhere(match, 0x87, 'credentials revoked')
    })
  }

  /** Loads retained messages and sessions, starts the keep-alive sweep and $SYS. */
  async init(): Promise<void> {
    for (const m of await this.retainedStore.loadAll()) this.retained.set(m)
    this.sessions.restore(await this.persistence.store.loadAll())
    this.sweepTimer = this.clock.setInterval(() => this.sweep(), SWEEP_MS)
    this.sweepTimer.unref?.()
    this.sys.start()
  }

  async listen(): Promise<ListeningOn[]> {
    const out: ListeningOn[] = []
    for (const [i, cfg] of this.config.listeners.entries()) out.push(await this.openListener(cfg, i))
    return out
  }

  private async openListener(cfg: ListenerConfig, index: number): Promise<ListeningOn> {
    const entry = await this.bindListener(cfg, index)
    const l = entry.l
    this.listeners.push(entry)
    this.logger.info({ listener: l.name, protocol: l.protocol, host: l.host, port: l.port }, 'MQTT listener open')
    return { name: l.name, protocol: l.protocol, host: l.host, port: l.port }
  }

  /**
   * All or nothing: listeners on new addresses are bound before any old one closes; one that needs an
   * address an old listener holds is bound after that one closed, and if it fails the old listeners are
   * opened again. On failure the previous listeners are the ones open, and the error says why.
   */
  async reconfigureListeners(next: ListenerConfig[]): Promise<string[]> {
    const kept = new Set<ListenerConfig>()
    const closing: Array<{ cfg: ListenerConfig; l: StartedListener; index: number }> = []
    for (const entry of this.listeners) {
      const same = next.find((n, i) => !kept.has(n) && listenerName(n, i) === entry.l.name && isDeepStrictEqual(n, entry.cfg))
      if (same) kept.add(same)
      else closing.push(entry)
    }
    const opening = [...next.entries()].filter(([, cfg]) => !kept.has(cfg))
    const heldByClosing = (cfg: ListenerConfig): boolean => cfg.port !== 0 && closing.some((o) => o.cfg.port === cfg.port && overlaps(o.cfg.host, cfg.host))
    const opened: Array<{ cfg: ListenerConfig; l: StartedListener; index: number }> = []
    const closeOpened = async (): Promise<void> => {
      for (const o of opened.splice(0)) await o.l.close()
    }
    try {
      for (const [i, cfg] of opening) if (!heldByClosing(cfg)) opened.push(await this.bindListener(cfg, i))
    } catch (err) {
      await closeOpened()
      throw err
    }
    for (const o of closing) await this.closeListener(o.l)
    try {
      for (const [i, cfg] of opening) if (heldByClosing(cfg)) opened.push(await this.bindListener(cfg, i))
    } catch (err) {
      await closeOpened()
      for (const o of closing) {
        // Reopening what was just closed on the same address; if even that fails, say so loudly.
        await this.bindListener(o.cfg, o.index).then(
          (r) => this.listeners.push(r),
          (e: unknown) => this.logger.error({ listener: o.l.name, err: errorMessage(e) }, 'MQTT listener could not be reopened after a failed reload'),
        )
      }
      throw err
    }
    this.listeners.push(...opened)
    for (const o of opened) this.logger.info({ listener: o.l.name, protocol: o.l.protocol, host: o.l.host, port: o.l.port }, 'MQTT listener open')
    const changed = closing.map((o) => o.l.name)
    for (const o of opened) if (!changed.includes(o.l.name)) changed.push(o.l.name)
    return changed
  }

  private async bindListener(cfg: ListenerConfig, index: number): Promise<{ cfg: ListenerConfig; l: StartedListener; index: number }> {
    const limits = this.config.limits
    // TLS handshakes and WebSocket upgrades get the CONNECT deadline too; a WebSocket message may hold one whole packet.
    const secure = { handshakeTimeout: limits.connect_timeout, maxPayload: limits.max_packet_size + 16 }
    const gate = (socket: Socket): void => this.admission.handshake(socket)
    const l = await startListener(cfg, index, (stream, info) => this.handleConnection(stream, info), this.logger, secure, gate)
    return { cfg, l, index }
  }

  private async closeListener(l: StartedListener): Promise<void> {
    this.listeners.splice(
      this.listeners.findIndex((x) => x.l === l),
      1,
    )
    const closed = l.close()
    // Its clients came in under the old settings (address, TLS, anonymous): they reconnect under the new ones.
    for (const c of [...this.connections]) if (c.info.listener === l.name) c.disconnect(0x8b, `listener ${l.name} reconfigured`)
    await closed
    this.logger.info({ listener: l.name }, 'MQTT listener closed (config reload)')
  }

  handleConnection(stream: Duplex, info: ConnectionInfo): void {
    if (this.closing) {
      stream.on('error', ignore)
      stream.destroy()
      return
    }
    const key = this.admission.admit(info, this.connections.size)
    if (key === false) {
      stream.on('error', ignore)
      stream.destroy()
      return
    }
    this.stats.connectionsTotal++
    const c = new Connection(this, stream, info, ++this.serial)
    this.connections.add(c)
    this.admission.added(c, key)
  }

  /** CONNECT accepted (called when a connection's state becomes 'connected'). */
  connectionEstablished(c: Connection): void {
    this.admission.established(c)
  }

  connectionClosed(c: Connection): void {
    this.connections.delete(c)
    this.admission.removed(c)
    this.sessions.detach(c)
  }

  /** Route a message that entered the broker (client, will, in-process); handles the retained store. */
  ingest(m: Message): Promise<void> | undefined {
    if (m.origin !== '$SYS') this.stats.messagesIn++
    if (m.retain) {
      try {
        this.storeRetained(m)
      } catch (err) {
        this.stats.dropped('retain', m.origin ?? '', m.topic, err)
      }
    }
    try {
      return route(this, m)
    } catch (err) {
      // routing itself failed (each subscriber's delivery is isolated in route): the publisher is told
      this.stats.dropped('route', m.origin ?? '', m.topic, err)
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
  }

  private storeRetained(m: Message): void {
    const sys = m.topic.startsWith('$SYS/')
    if (m.payload.length === 0) {
      // [MQTT-3.3.1-10] an empty retained payload clears the topic and is not stored
      if (this.retained.delete(m.topic) && !sys) this.retainedOp('delete', this.retainedStore.delete(m.topic))
      return
    }
    if (this.retainedFull(m.topic)) {
      this.stats.limit('retained', m.origin ?? '', `max_retained (${this.config.limits.max_retained}) reached; ${m.topic} not retained`)
      return
    }
    this.retained.set(m)
    if (!sys) this.retainedOp('put', this.retainedStore.put(m))
  }

  /** True when a non-empty retained message on `topic` would be a new topic beyond max_retained (0 = no limit). */
  retainedFull(topic: string): boolean {
    const max = this.config.limits.max_retained
    return max > 0 && this.retained.size >= max && !topic.startsWith('$SYS/') && this.retained.get(topic) === null
  }

  /** True (and the message is dropped from the retained set) when its Message Expiry Interval has passed. */
  retainedExpired(m: Message): boolean {
    const exp = m.properties?.messageExpiryInterval
    if (exp === undefined || this.clock.now() - (m.receivedAt ?? 0) < exp * 1000) return false
    if (this.retained.get(m.topic) === m && this.retained.delete(m.topic) && !m.topic.startsWith('$SYS/')) {
      this.retainedOp('delete', this.retainedStore.delete(m.topic))
    }
    return true
  }

  private retainedOp(what: string, p: Promise<void>): void {
    p.catch((err: unknown) => this.logger.error({ err: errorMessage(err) }, `retained store ${what} failed`))
  }

  /** Called from socket close handlers and timers: nothing may escape from here. */
  publishWill(m: Message, s: Session): void {
    try {
      const who = s.identity
      if (who !== null && !this.hooks.authorizePublish(who, m.topic, m.qos, m.retain)) return
      const w = this.ingest({ ...m, receivedAt: this.clock.now() })
      w?.catch(() => undefined)
    } catch (err) {
      this.stats.dropped('will', s.clientId, m.topic, err)
    }
  }

  async publish(m: Message): Promise<void> {
    if (this.closing) throw new FieldgateError('BROKER_CLOSED', 'broker is closed; publish after close() is not possible')
    const problem = topicNameProblem(m.topic, LOCAL_LIMITS)
    if (problem !== null) throw new FieldgateError('BROKER_PROTOCOL', `cannot publish to "${m.topic}": ${problem}`)
    const msg = m.receivedAt === undefined ? { ...m, receivedAt: this.clock.now() } : m
    await this.ingest(msg)
  }

  subscribe(filter: string, onMessage: LocalHandler, opts: LocalSubscribeOptions = {}): () => void {
    const parsed = parseFilter(filter, LOCAL_LIMITS)
    if (typeof parsed === 'string') throw new FieldgateError('BROKER_PROTOCOL', `cannot subscribe to "${filter}": ${parsed}`)
    const sub: Subscription = {
      raw: filter,
      filter: parsed.filter,
      share: parsed.share,
      qos: opts.qos ?? 2,
      noLocal: false,
      retainAsPublished: true,
      retainHandling: 0,
      subscriptionId: undefined,
      session: null,
      local: onMessage,
      noLocalOrigin: opts.noLocalOrigin,
    }
    this.trie.add(sub)
    if (opts.retained === true && parsed.share === undefined) {
      for (const m of this.retained.match(parsed.filter)) {
        try {
          const r = onMessage(m.qos <= sub.qos ? m : { ...m, qos: sub.qos })
          if (r !== undefined) r.catch(() => undefined)
        } catch (err) {
          this.logger.warn({ filter, err: errorMessage(err) }, 'in-process subscriber failed on a retained message')
        }
      }
    }
    let active = true
    return () => {
      if (active) this.trie.remove(sub)
      active = false
    }
  }

  disconnectWhere(pred: (who: ClientIdentity) => boolean, reasonCode: number, reason: string): number {
    let n = 0
    for (const c of [...this.connections]) {
      if (c.state !== 'connected' || !pred(c.identity)) continue
      this.logger.info({ clientId: c.clientId, reasonCode }, `disconnecting client ${c.clientId}: ${reason}`)
      c.disconnect(reasonCode, reason)
      n++
    }
    return n
  }

  private sweep(): void {
    const now = this.clock.now()
    const connectTimeout = this.config.limits.connect_timeout
    for (const c of this.connections) {
      if ((c.state === 'new' || c.state === 'connecting') && now - c.createdAt > connectTimeout) {
        // no CONNECT, or authentication never answered
        this.stats.limit('connect_timeout', `${c.info.remoteAddress}:${c.info.remotePort}`, `not connected within ${connectTimeout} ms`)
        c.destroy()
      } else if (c.state === 'connected' && c.keepaliveMs > 0 && now - c.lastRx > c.keepaliveMs * 1.5) {
        // [MQTT-3.1.2-24] nothing received for 1.5 × keep-alive
        c.protocolError(`keep-alive expired (${c.keepaliveMs / 1000} s)`, 0x8d)
      }
    }
    this.stats.updateRates()
  }

  status(): Status {
    let connected = 0
    for (const c of this.connections) if (c.state === 'connected') connected++
    let subscriptions = 0
    for (const s of this.sessions.map.values()) subscriptions += s.subscriptions.size
    const st = this.stats
    return {
      health: this.closing ? 'down' : 'ok',
      ...(this.closing ? { reason: 'broker closed' } : {}),
      details: {
        listeners: this.listeners.map(({ l }) => ({ name: l.name, protocol: l.protocol, host: l.host, port: l.port })),
        clients: { connected, connections: this.connections.size, pending: this.admission.pendingCount, sessions: this.sessions.map.size, total: st.connectionsTotal },
        subscriptions,
        inProcessSubscriptions: this.trie.size - subscriptions,
        retained: this.retained.size,
        messages: { in: st.messagesIn, out: st.messagesOut, dropped: st.messagesDropped, droppedBy: { ...st.droppedBy } },
        bytes: { in: st.bytesIn, out: st.bytesOut },
        rates: { ...st.rates },
        limitHits: { ...st.limitHits },
        uptimeSeconds: Math.floor((this.clock.now() - st.startedAt) / 1000),
      },
    }
  }

  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    if (this.sweepTimer !== null) this.clock.clearInterval(this.sweepTimer)
    this.sys.stop()
    // stop accepting first; a listener's close resolves only once its connections are gone
    const stopped = Promise.all(this.listeners.map(({ l }) => l.close()))
    for (const c of [...this.connections]) {
      c.dropWill = true // wills are for clients that vanish, not for a broker shutting down
      c.disconnect(0x8b, 'server shutting down')
    }
    await stopped
    for (const s of this.sessions.map.values()) {
      if (s.expiryTimer !== null) this.clock.clearTimeout(s.expiryTimer)
      if (s.will?.timer != null) this.clock.clearTimeout(s.will.timer)
    }
    await this.persistence.flush()
    this.stats.logs.flush()
  }
}

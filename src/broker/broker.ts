import type { Duplex } from 'node:stream'
import { systemClock, type Clock, type TimerHandle } from '../core/clock.ts'
import { FieldgateError, errorMessage } from '../core/errors.ts'
import type { Logger } from '../core/logger.ts'
import type { Message, Status } from '../core/types.ts'
import { Admission } from './admission.ts'
import { Connection, type ConnectionContext } from './connection.ts'
import { DeliveryEngine } from './delivery.ts'
import { openHooks, type BrokerHooks, type ClientIdentity, type ConnectionInfo } from './hooks.ts'
import { ListenerSet } from './listeners/set.ts'
import type { BrokerLimits, ListenerOptions } from './options.ts'
import { Persistence } from './persist.ts'
import { MemoryRetainedStore, MemorySessionStore } from './persistence/memory.ts'
import { RetainedMessages } from './retained-messages.ts'
import { route, safeDeliver, type RouterContext } from './router.ts'
import type { LocalHandler, Session, Subscription } from './session.ts'
import { SessionRegistry } from './sessions.ts'
import { Stats } from './stats.ts'
import { SysPublisher } from './sys.ts'
import { parseFilter, topicNameProblem } from './topics.ts'
import { TopicTrie } from './trie.ts'
import type { Broker, BrokerOptions, ListeningOn, LocalSubscribeOptions } from './types.ts'

const SWEEP_MS = 500
const ignore = (): void => undefined
const LOCAL_LIMITS = { maxLength: 65535, maxLevels: 65535 }

/**
 * Wires the broker's parts and serves the in-process API. Each part gets a context with what it uses
 * (handlers and connections `ConnectionContext`, routing `RouterContext`, sessions, delivery and `$SYS`
 * theirs), never this object. The engine parts stay readable for tests that drive them without sockets.
 */
export class MqttBroker implements Broker {
  readonly stats: Stats
  readonly persistence: Persistence
  readonly delivery: DeliveryEngine
  readonly sessions: SessionRegistry
  private readonly limits: BrokerLimits
  private readonly listenerOptions: ListenerOptions[]
  private readonly logger: Logger
  private readonly clock: Clock
  private readonly hooks: BrokerHooks
  private readonly trie = new TopicTrie()
  private readonly retained: RetainedMessages
  private readonly connections = new Set<Connection>()
  private readonly admission: Admission
  private readonly listeners: ListenerSet
  private readonly routing: RouterContext
  private readonly ctx: ConnectionContext
  private readonly sys: SysPublisher
  private sweepTimer: TimerHandle | null = null
  private serial = 0
  private closing = false

  constructor(opts: BrokerOptions) {
    this.listenerOptions = opts.listeners
    const limits = (this.limits = opts.limits)
    const logger = (this.logger = opts.logger)
    const clock = (this.clock = opts.clock ?? systemClock)
    const hooks = (this.hooks = opts.hooks ?? openHooks)
    const stats = (this.stats = new Stats(clock, logger))
    this.admission = new Admission(() => this.limits, stats)
    this.retained = new RetainedMessages(opts.retained ?? new MemoryRetainedStore(), limits, clock, stats, logger)
    const persistence = (this.persistence = new Persistence(opts.sessions ?? new MemorySessionStore(), stats.logs))
    const delivery = (this.delivery = new DeliveryEngine({ limits, stats, persistence, hooks }))
    const trie = this.trie
    this.sessions = new SessionRegistry({ clock, trie, persistence, delivery: delivery.state, publishWill: (m, s) => this.publishWill(m, s) })
    this.routing = { trie, hooks, delivery, stats, logger }
    this.ctx = {
      limits,
      topicLimits: { maxLength: limits.maxTopicLength, maxLevels: limits.maxTopicLevels },
      hooks,
      stats,
      logger,
      clock,
      delivery,
      sessions: this.sessions,
      trie,
      persistence,
      retained: this.retained,
      ingest: (m) => this.ingest(m),
      deliver: (s, m, qos, retain, subIds) => safeDeliver(this.routing, s, m, qos, retain, subIds),
      established: (c) => this.admission.established(c),
      closed: (c) => this.connectionClosed(c),
    }
    this.listeners = new ListenerSet({
      logger,
      limits,
      onConnection: (stream, info) => this.handleConnection(stream, info),
      gate: (socket) => this.admission.handshake(socket),
      dropClients: (name) => {
        for (const c of [...this.connections]) if (c.info.listener === name) c.disconnect(0x8b, `listener ${name} reconfigured`)
      },
    })
    this.sys = new SysPublisher({
      interval: opts.sysInterval,
      clock,
      gatewayId: opts.gatewayId,
      version: opts.version,
      status: () => this.status(),
      ingest: (m) => this.ingest(m),
    })
    hooks.onRevoke?.((who) => {
      const match = (id: ClientIdentity): boolean =>
        who.some((w) => (w.username !== undefined && w.username === id.username) || (w.deviceId !== undefined && w.deviceId === id.deviceId))
      this.disconnectWhere(match, 0x87, 'credentials revoked')
    })
  }

  /** Loads retained messages and sessions, starts the keep-alive sweep and $SYS. */
  async init(): Promise<void> {
    await this.retained.load()
    this.sessions.restore(await this.persistence.store.loadAll())
    this.sweepTimer = this.clock.setInterval(() => this.sweep(), SWEEP_MS)
    this.sweepTimer.unref?.()
    this.sys.start()
  }

  listen(): Promise<ListeningOn[]> {
    return this.listeners.openAll(this.listenerOptions)
  }

  reconfigureListeners(next: ListenerOptions[]): Promise<string[]> {
    return this.listeners.reconfigure(next)
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
    const c = new Connection(this.ctx, stream, info, ++this.serial)
    this.connections.add(c)
    this.admission.added(c, key)
  }

  private connectionClosed(c: Connection): void {
    this.connections.delete(c)
    this.admission.removed(c)
    this.sessions.detach(c)
  }

  /** Route a message that entered the broker (client, will, in-process); handles the retained store. */
  private ingest(m: Message): Promise<void> | undefined {
    if (m.origin !== '$SYS') this.stats.messagesIn++
    if (m.retain) {
      try {
        this.retained.retain(m)
      } catch (err) {
        this.stats.dropped('retain', m.origin ?? '', m.topic, err)
      }
    }
    try {
      return route(this.routing, m)
    } catch (err) {
      // routing itself failed (each subscriber's delivery is isolated in route): the publisher is told
      this.stats.dropped('route', m.origin ?? '', m.topic, err)
      return Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
  }

  /** Called from socket close handlers and timers: nothing may escape from here. */
  private publishWill(m: Message, s: Session): void {
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
    const connectTimeout = this.limits.connectTimeout
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
        listeners: this.listeners.list(),
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
    const stopped = this.listeners.closeAll()
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

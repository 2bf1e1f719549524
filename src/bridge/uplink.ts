import { connect, type IClientOptions, type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt'
import type { UplinkConfig } from '../config/sections/bridge.ts'
import {
  Backoff,
  FieldgateError,
  errorMessage,
  redactText,
  redactUrl,
  systemClock,
  topicMatches,
  type Clock,
  type LocalBroker,
  type Logger,
  type Message,
  type Qos,
  type QueueStats,
  type Sink,
  type Status,
  type TimerHandle,
} from '../core/index.ts'
import { HealthTopics, healthOf } from './health.ts'
import { FramePublisher } from './frames.ts'
import { fromPacketProperties, withTimeout } from './packet.ts'
import { InflightGate, NO_LIMITS, limitsFromConnack, type ServerLimits } from './limits.ts'
import { clientOptions, serverList, urlWithOptions, uplinkTopics, type ReadFile, type UplinkTopics } from './options.ts'
import { Probe } from './probe.ts'
import { Qos2Recovery } from './qos2.ts'
import { filtersOverlap } from './remap.ts'
import { DownlinkRules, ForwardRules } from './rules.ts'
import { Supervisor } from './supervisor.ts'

export interface UplinkDeps {
  gatewayId: string
  logger: Logger
  clock?: Clock
  /** The local broker: downlink messages and `$SYS` health topics go here. */
  local?: LocalBroker
  /** For tests of credential handling. */
  readFile?: ReadFile
  /** Bound on the graceful part of stop() (offline message + DISCONNECT). */
  stopTimeout?: number
  /** The uplink's queue statistics, so status() and `$SYS` show backlog depth and oldest age. */
  queueStats?: () => QueueStats
  /** How often the `$SYS` health topics are refreshed besides state changes; default 5 s. */
  healthInterval?: number
  /** Packet id allocation per connection (tests force id reuse with it); MQTT.js's default otherwise. */
  messageIds?: () => NonNullable<IClientOptions['messageIdProvider']>
}

export interface Uplink extends Sink {
  readonly name: string
  /** Origin tag on messages this uplink publishes locally; subscribe forward filters with `noLocalOrigin` set to it. */
  readonly origin: string
  start(): void
  stop(): Promise<void>
  status(): Status
  outbound(m: Message, viaFilter?: string): Message | null
  forwardFilters(): string[]
}

interface Pending {
  resolve: () => void
  reject: (err: Error) => void
}

/** One uplink to a cloud broker over MQTT.js; one MqttClient per connection, reconnects driven here. */
export class MqttUplink implements Uplink {
  readonly name: string
  readonly origin: string
  private readonly clock: Clock
  private readonly log: Logger
  private readonly topics: UplinkTopics
  private readonly sup: Supervisor
  private readonly forward: ForwardRules
  private readonly down: DownlinkRules
  private readonly health: HealthTopics
  private readonly probe: Probe
  /** Remote topics we publish to: on 3.1.1 (no No Local) a message on one of them is our own echo. */
  private readonly ownTopics: string[]
  private client: MqttClient | null = null
  /** The current connection's pre-encoded publish path (QoS 0/1 without properties). */
  private frames: FramePublisher | null = null
  private gen = 0
  private running = false
  private isOnline = false
  private retryTimer: TimerHandle | null = null
  private healthTimer: TimerHandle | null = null
  private pending = new Set<Pending>()
  private onlineCbs = new Set<() => void>()
  private lastAckAt: number | null = null
  private loopsDropped = 0
  private downlinked = 0
  private published = 0
  /** Messages whose v5 Message Expiry Interval ran out while they waited in the queue. */
  private expired = 0
  private corked = false
  private qos2Released = 0
  private limits: ServerLimits = NO_LIMITS
  private gate = new InflightGate(NO_LIMITS.receiveMaximum)
  /** Only a resumed session can hold QoS 2 exchanges open across connections. */
  private readonly qos2: Qos2Recovery | null

  constructor(
    private readonly cfg: UplinkConfig,
    private readonly deps: UplinkDeps,
  ) {
    this.name = cfg.name
    this.origin = `$bridge:${cfg.name}`
    this.clock = deps.clock ?? systemClock
    this.log = deps.logger.child({ uplink: cfg.name })
    this.topics = uplinkTopics(cfg, deps.gatewayId)
    const backoff = new Backoff(cfg.backoff.min, cfg.backoff.max)
    this.sup = new Supervisor(serverList(cfg), backoff, this.clock, Math.max(10_000, cfg.backoff.min * 10))
    this.forward = new ForwardRules(cfg.forward, deps.gatewayId, undefined, () => this.clock.now())
    this.down = new DownlinkRules(cfg.downlink, deps.gatewayId)
    this.health = new HealthTopics(deps.local, cfg.name, this.origin, this.log)
    this.ownTopics = [...this.forward.covers(), this.topics.statusTopic, this.topics.birthTopic]
    this.qos2 = cfg.clean ? null : new Qos2Recovery()
    this.probe = new Probe(
      this.clock,
      cfg.probe.interval,
      cfg.probe.timeout,
      `${this.topics.clientId}:${Math.floor(Math.random() * 1e9).toString(36)}`,
      (payload) => this.client?.publish(this.topics.probeTopic, payload, { qos: 0, retain: false }),
      (waited) => this.drop(`probe not echoed within ${waited} ms (half-open link?)`),
      () => this.publishHealth(),
    )
    if (cfg.protocol_version === 4) {
      for (const d of this.down.subscriptions()) {
        const clash = this.ownTopics.find((own) => filtersOverlap(own, d.filter))
        if (clash) this.log.warn({ filter: d.filter, own: clash }, 'MQTT 3.1.1 has no No Local: downlink messages on topics we publish to are dropped as echoes')
      }
    }
    // Fail early on unreadable credentials; they are read again on every attempt.
    clientOptions(cfg, deps.gatewayId, deps.readFile)
  }

  get online(): boolean {
    return this.isOnline
  }

  onOnline(cb: () => void): () => void {
    this.onlineCbs.add(cb)
    return () => this.onlineCbs.delete(cb)
  }

  outbound(m: Message, viaFilter?: string): Message | null {
    return this.forward.outbound(m, viaFilter)
  }

  forwardFilters(): string[] {
    return this.forward.filters()
  }

  start(): void {
    if (this.running) return
    this.running = true
    const every = this.deps.healthInterval ?? 5000
    if (this.deps.local && every > 0) {
      this.healthTimer = this.clock.setInterval(() => this.publishHealth(), every)
      this.healthTimer.unref?.()
    }
    this.attempt()
  }

  /**
   * Resolves on PUBACK (QoS 1) / PUBCOMP (QoS 2), or once written (QoS 0). Rejects with BRIDGE_OFFLINE
   * when offline or when the connection drops before the acknowledgement: the caller re-sends.
   */
  publish(m: Message): Promise<void> {
    const client = this.client
    if (!this.isOnline || !client) return Promise.reject(this.offlineError('not connected'))
    const exp = m.properties?.messageExpiryInterval
    if (exp !== undefined && m.receivedAt !== undefined) {
      // [MQTT-3.3.2-6] forward the remaining lifetime; a message that expired while queued is dropped.
      const left = exp - Math.floor((this.clock.now() - m.receivedAt) / 1000)
      if (left <= 0) {
        this.expired++
        return Promise.resolve()
      }
      if (left !== exp) m = { ...m, properties: { ...m.properties, messageExpiryInterval: left } }
    }
    const qos = m.qos > this.limits.maximumQoS ? this.limits.maximumQoS : m.qos
    const gate = this.gate
    if (qos === 0 || gate.tryAcquire()) return this.send(client, gate, m, qos)
    return gate.wait().then(() => this.send(client, gate, m, qos))
  }

  private send(client: MqttClient, gate: InflightGate, m: Message, qos: Qos): Promise<void> {
    if (client !== this.client) return Promise.reject(this.offlineError('connection replaced'))
    // No named closures per publish: the bundle keeps names (esbuild keepNames), which costs a call each.
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { resolve, reject }
      this.pending.add(p)
      const retain = m.retain && this.limits.retainAvailable
      const props = this.cfg.protocol_version === 5 ? m.properties : undefined
      if (qos < 2 && this.frames?.publish(m.topic, m.payload, qos === 1 ? 1 : 0, retain, props, (err) => this.settle(p, gate, qos, m.topic, err))) return
      this.frames?.flush() // what the frame path queued goes first: order holds across both paths
      const opts: IClientPublishOptions = { qos, retain }
      if (props) opts.properties = props
      this.cork(client)
      client.publish(m.topic, m.payload, opts, (err) => this.settle(p, gate, qos, m.topic, err))
    })
  }

  private settle(p: Pending, gate: InflightGate, qos: Qos, topic: string, err: Error | null | undefined): void {
    if (!this.pending.delete(p)) return // already rejected by a drop
    if (qos > 0) gate.release()
    if (err) {
      p.reject(new FieldgateError('BRIDGE_OFFLINE', `uplink "${this.name}": publish to ${topic} refused: ${err.message}`, { cause: err }))
      return
    }
    this.published++
    if (qos > 0) this.lastAckAt = this.clock.now()
    p.resolve()
  }

  /**
   * Publishes issued in the same turn of the event loop (a forwarder refilling its window after a read
   * full of PUBACKs) leave in one write instead of one syscall each.
   */
  private cork(client: MqttClient): void {
    if (this.corked) return
    const s = client.stream as unknown as { cork?: () => void; uncork?: () => void }
    if (!s.cork || !s.uncork) return
    s.cork()
    this.corked = true
    setImmediate(() => {
      this.corked = false
      s.uncork?.()
    })
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer)
    this.retryTimer = null
    if (this.healthTimer) this.clock.clearInterval(this.healthTimer)
    this.healthTimer = null
    this.probe.stop()
    const client = this.client
    if (client && this.isOnline) {
      this.frames?.flush()
      const bound = this.deps.stopTimeout ?? 2000
      const w = this.cfg.will
      // Say goodbye ourselves, then a normal DISCONNECT so the broker discards the Will [MQTT-3.1.2-8].
      await withTimeout(client.publishAsync(this.topics.statusTopic, w.payload, { qos: w.qos, retain: w.retain }), bound).catch(() => undefined)
      await withTimeout(new Promise<void>((resolve) => client.end(false, {}, () => resolve())), bound).catch(() => undefined)
    }
    this.gen++
    this.teardown(client, 'uplink stopped')
    this.sup.stopped()
    this.publishHealth()
  }

  status(): Status {
    const details = this.details()
    return { ...healthOf(this.sup.state, this.sup.lastError), details }
  }

  private details(): Record<string, unknown> {
    const q = this.deps.queueStats?.()
    const backlog = q ? { backlog: q.depth, oldestAgeMs: q.oldestEnqueuedAt === null ? null : Math.max(0, this.clock.now() - q.oldestEnqueuedAt) } : {}
    return {
      name: this.name,
      state: this.sup.state,
      since: new Date(this.sup.since).toISOString(),
      offlineSince: this.sup.offlineSince === null ? null : new Date(this.sup.offlineSince).toISOString(),
      server: redactUrl(this.sup.server),
      clientId: this.topics.clientId,
      lastError: this.sup.lastError,
      reconnects: this.sup.reconnects,
      attempts: this.sup.attempts,
      rttMs: this.probe.rtt,
      lastProbeAt: this.probe.lastAt === null ? null : new Date(this.probe.lastAt).toISOString(),
      lastAckAt: this.lastAckAt === null ? null : new Date(this.lastAckAt).toISOString(),
      inflight: this.pending.size,
      published: this.published,
      expired: this.expired,
      downlinked: this.downlinked,
      loopsDropped: this.loopsDropped,
      waiting: this.gate.waiting,
      qos2Open: this.qos2?.pending ?? 0,
      qos2Released: this.qos2Released,
      ...backlog,
    }
  }

  private publishHealth(): void {
    const d = this.details()
    this.health.publish({
      state: d.state,
      since: d.since,
      last_error: d.lastError,
      reconnects: d.reconnects,
      rtt: d.rttMs,
      last_ack: d.lastAckAt,
      server: d.server,
      ...(d.backlog === undefined ? {} : { backlog: d.backlog, oldest_age: d.oldestAgeMs }),
    })
  }

  private attempt(): void {
    this.retryTimer = null
    if (!this.running) return
    const server = this.sup.begin()
    // a server URL may carry a password (mqtt://user:pass@host): only its redacted form is logged or shown
    const shown = redactUrl(server)
    this.publishHealth()
    const gen = ++this.gen
    let client: MqttClient
    try {
      const opts = clientOptions(this.cfg, this.deps.gatewayId, this.deps.readFile)
      if (this.deps.messageIds) opts.messageIdProvider = this.deps.messageIds()
      client = connect(urlWithOptions(server, opts), opts)
    } catch (err) {
      this.retry(errorMessage(err))
      return
    }
    this.client = client
    this.frames = new FramePublisher(client, this.cfg.protocol_version === 5)
    this.qos2?.watch(client)
    let lastErr: string | null = null
    const socket = client.stream as unknown as { setNoDelay?: (on: boolean) => void }
    socket.setNoDelay?.(true) // an uplink carries small messages; Nagle would add up to 40 ms each
    client.on('error', (err) => {
      lastErr = redactText(err.message)
      this.log.debug({ err: lastErr, server: shown }, 'uplink client error')
    })
    client.on('connect', (connack) => {
      if (gen !== this.gen) return
      this.limits = this.cfg.protocol_version === 5 ? limitsFromConnack(connack) : NO_LIMITS
      this.gate = new InflightGate(this.limits.receiveMaximum)
      void this.onConnect(gen, client, shown, connack.sessionPresent)
    })
    client.on('message', (topic, payload, packet) => {
      if (gen === this.gen) this.onMessage(topic, payload, packet)
    })
    client.on('close', () => {
      if (gen !== this.gen || this.client !== client) return // stale, or already handled
      const why = lastErr ?? (this.isOnline ? 'connection closed' : 'connection refused or closed before CONNACK')
      this.teardown(client, why)
      this.retry(why)
    })
  }

  private async onConnect(gen: number, client: MqttClient, shown: string, sessionPresent: boolean): Promise<void> {
    try {
      const subs: Record<string, { qos: 0 | 1 | 2; nl?: boolean }> = {}
      if (this.cfg.probe.interval > 0) subs[this.topics.probeTopic] = { qos: 0 }
      for (const d of this.down.subscriptions()) {
        // No Local: the cloud never sends back what this connection published [MQTT-3.8.3-3]
        subs[d.filter] = this.cfg.protocol_version === 5 ? { qos: d.qos, nl: true } : { qos: d.qos }
      }
      const setup = async (): Promise<void> => {
        // Before any new packet id is used: release what a resumed session still holds open.
        const released = await (this.qos2?.recover(client, sessionPresent, this.cfg.connect_timeout) ?? 0)
        if (released > 0) this.log.info({ released }, 'released QoS 2 exchanges left open by the previous connection')
        this.qos2Released += released
        if (Object.keys(subs).length > 0) {
          const granted = await client.subscribeAsync(subs)
          for (const g of granted) if (g.qos === 128) this.log.warn({ filter: g.topic }, 'cloud broker refused a downlink subscription')
        }
        const b = this.cfg.birth
        const retain = b.retain && this.limits.retainAvailable
        await client.publishAsync(this.topics.birthTopic, b.payload, { qos: Math.min(b.qos, this.limits.maximumQoS) as Qos, retain })
      }
      // CONNACK came, but SUBACK / PUBACK may not (a link that dies right now): bounded like the connect.
      await withTimeout(setup(), this.cfg.connect_timeout)
    } catch (err) {
      if (gen === this.gen) this.drop(`setup after connect failed: ${errorMessage(err)}`)
      return
    }
    if (gen !== this.gen) return
    this.sup.connected()
    this.isOnline = true
    this.log.info({ server: shown, reconnects: this.sup.reconnects }, 'uplink online')
    this.probe.start()
    this.publishHealth()
    for (const cb of [...this.onlineCbs]) {
      try {
        cb()
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'onOnline callback threw')
      }
    }
  }

  private onMessage(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (topic === this.topics.probeTopic) {
      this.probe.received(payload)
      return
    }
    if (this.cfg.protocol_version === 4 && this.ownTopics.some((f) => topicMatches(f, topic))) {
      this.loopsDropped++ // our own message echoed back: 3.1.1 has no No Local
      return
    }
    const qos = packet.qos
    const m: Message = { topic, payload, qos, retain: packet.retain, receivedAt: this.clock.now() }
    const props = fromPacketProperties(packet.properties)
    if (props) m.properties = props
    const local = this.down.inbound(m)
    if (!local || !this.deps.local) return
    this.downlinked++
    this.deps.local.publish({ ...local, origin: this.origin }).catch((err: unknown) => {
      this.log.warn({ err: errorMessage(err), topic: local.topic }, 'downlink message not delivered locally')
    })
  }

  /** Tear the current connection down on purpose (probe timeout, setup failure); close handling retries. */
  private drop(why: string): void {
    const client = this.client
    if (!client) return
    const reason = redactText(why)
    this.log.warn({ reason }, 'uplink connection dropped')
    this.gen++ // the old client's late events are ignored from here on
    this.teardown(client, reason)
    this.retry(reason)
  }

  private teardown(client: MqttClient | null, reason: string): void {
    const wasOnline = this.isOnline
    this.isOnline = false
    this.probe.stop()
    this.qos2?.lost()
    if (client) {
      client.removeAllListeners('message')
      client.removeAllListeners('connect')
      client.end(true)
    }
    if (this.client === client) {
      this.client = null
      this.frames?.close()
      this.frames = null
    }
    const pending = [...this.pending]
    this.pending.clear()
    const waiting = this.gate.waiting
    this.gate.rejectAll(this.offlineError(reason))
    for (const p of pending) p.reject(this.offlineError(reason))
    if (wasOnline) this.log.warn({ reason, inflight: pending.length, waiting }, 'uplink offline')
  }

  private retry(why: string): void {
    if (!this.running) return
    const reason = redactText(why) // becomes lastError in status and the health topic
    if (this.retryTimer) this.clock.clearTimeout(this.retryTimer)
    const delay = this.sup.failed(reason)
    this.publishHealth()
    this.log.info({ reason, delay, next: redactUrl(this.sup.server) }, 'uplink reconnecting after backoff')
    this.retryTimer = this.clock.setTimeout(() => this.attempt(), delay)
  }

  private offlineError(reason: string): FieldgateError {
    return new FieldgateError('BRIDGE_OFFLINE', `uplink "${this.name}" is offline (${reason}); the message stays queued and is sent again once it reconnects`, {
      details: { uplink: this.name },
    })
  }
}

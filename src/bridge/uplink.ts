import { connect, type MqttClient } from 'mqtt'
import {
  Backoff,
  errorMessage,
  redactText,
  redactUrl,
  systemClock,
  type Clock,
  type Logger,
  type Message,
  type Qos,
  type Status,
  type TimerHandle,
} from '../core/index.ts'
import { Downlink } from './downlink.ts'
import { HealthTopics, healthOf, uplinkDetails } from './health.ts'
import { noDelay } from './mqttjs.ts'
import { clientOptions, serverList, urlWithOptions, uplinkTopics, type UplinkTopics } from './options.ts'
import { withTimeout } from './packet.ts'
import { Probe } from './probe.ts'
import { ConnectionPublisher, offlineError, type PublishCounters } from './publisher.ts'
import { Qos2Recovery } from './qos2.ts'
import { STATUS_WATCH_REFUSED, StatusGuard } from './status-guard.ts'
import { ForwardRules } from './rules.ts'
import { Supervisor } from './supervisor.ts'
import type { Uplink, UplinkDeps } from './types.ts'
import type { UplinkOptions } from './uplink-options.ts'

/** One uplink to a cloud broker over MQTT.js; one MqttClient per connection, reconnects driven here. */
export class MqttUplink implements Uplink {
  readonly name: string
  readonly origin: string
  private readonly clock: Clock
  private readonly log: Logger
  private readonly topics: UplinkTopics
  private readonly sup: Supervisor
  private readonly forward: ForwardRules
  private readonly down: Downlink
  private readonly health: HealthTopics
  private readonly probe: Probe
  private readonly guard: StatusGuard
  private client: MqttClient | null = null
  /** The current connection's publish path. */
  private pub: ConnectionPublisher | null = null
  private readonly counters: PublishCounters = { published: 0, expired: 0, lastAckAt: null }
  private gen = 0
  private running = false
  private isOnline = false
  private retryTimer: TimerHandle | null = null
  private healthTimer: TimerHandle | null = null
  private onlineCbs = new Set<() => void>()
  private qos2Released = 0
  /** Only a resumed session can hold QoS 2 exchanges open across connections. */
  private readonly qos2: Qos2Recovery | null

  constructor(
    private readonly cfg: UplinkOptions,
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
    const ownTopics = [...this.forward.covers(), this.topics.statusTopic, this.topics.birthTopic]
    const v5 = cfg.protocolVersion === 5
    this.down = new Downlink(cfg.downlink, deps.gatewayId, v5, ownTopics, deps.local, this.origin, this.clock, this.log)
    this.health = new HealthTopics(deps.local, cfg.name, this.origin, this.log)
    this.guard = new StatusGuard(cfg, this.topics, this.clock, this.log, () => (this.running && this.client && this.pub ? this.publishBirth(this.client, this.pub) : null))
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
    const pub = this.pub
    if (!this.isOnline || !pub) return Promise.reject(offlineError(this.name, 'not connected'))
    return pub.publish(m)
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
      this.pub?.flush()
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
    return uplinkDetails({
      name: this.name,
      clientId: this.topics.clientId,
      link: this.sup,
      probe: this.probe,
      counters: this.counters,
      connection: this.pub,
      downlink: this.down,
      qos2Open: this.qos2?.pending ?? 0,
      qos2Released: this.qos2Released,
      queue: this.deps.queueStats?.(),
      now: this.clock.now(),
    })
  }

  private publishHealth(): void {
    this.health.publishDetails(this.details())
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
    const pub = new ConnectionPublisher(client, this.cfg.protocolVersion === 5, this.name, this.clock, this.counters)
    this.client = client
    this.pub = pub
    this.qos2?.watch(client)
    let lastErr: string | null = null
    noDelay(client) // an uplink carries small messages; Nagle would add up to 40 ms each
    client.on('error', (err) => {
      lastErr = redactText(err.message)
      this.log.debug({ err: lastErr, server: shown }, 'uplink client error')
    })
    client.on('connect', (connack) => {
      if (gen !== this.gen) return
      pub.connected(connack)
      void this.onConnect(gen, client, pub, shown, connack.sessionPresent)
    })
    client.on('message', (topic, payload, packet) => {
      if (gen !== this.gen) return
      if (topic === this.topics.probeTopic) this.probe.received(payload)
      else if (topic === this.guard.topic) this.guard.received(payload, packet.retain, this.running)
      else this.down.receive(topic, payload, packet)
    })
    client.on('close', () => {
      if (gen !== this.gen || this.client !== client) return // stale, or already handled
      const why = lastErr ?? (this.isOnline ? 'connection closed' : 'connection refused or closed before CONNACK')
      this.teardown(client, why)
      this.retry(why)
    })
  }

  private async onConnect(gen: number, client: MqttClient, pub: ConnectionPublisher, shown: string, sessionPresent: boolean): Promise<void> {
    try {
      const subs: Record<string, { qos: Qos; nl?: boolean }> = {}
      if (this.cfg.probe.interval > 0) subs[this.topics.probeTopic] = { qos: 0 }
      Object.assign(subs, this.down.subscriptions(), this.guard.subscription())
      const setup = async (): Promise<void> => {
        // Before any new packet id is used: release what a resumed session still holds open.
        const released = await (this.qos2?.recover(client, sessionPresent, this.cfg.connectTimeout) ?? 0)
        if (released > 0) this.log.info({ released }, 'released QoS 2 exchanges left open by the previous connection')
        this.qos2Released += released
        if (Object.keys(subs).length > 0) {
          const granted = await client.subscribeAsync(subs)
          for (const g of granted) if (g.qos === 128) this.log.warn({ filter: g.topic }, g.topic === this.guard.topic ? STATUS_WATCH_REFUSED : 'cloud broker refused a downlink subscription')
        }
        await this.publishBirth(client, pub)
      }
      // CONNACK came, but SUBACK / PUBACK may not (a link that dies right now): bounded like the connect.
      await withTimeout(setup(), this.cfg.connectTimeout)
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

  private publishBirth(client: MqttClient, pub: ConnectionPublisher): Promise<unknown> {
    const b = this.cfg.birth
    return client.publishAsync(this.topics.birthTopic, b.payload, { qos: Math.min(b.qos, pub.limits.maximumQoS) as Qos, retain: b.retain && pub.limits.retainAvailable })
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
    this.guard.cancel()
    this.qos2?.lost()
    if (client) {
      client.removeAllListeners('message')
      client.removeAllListeners('connect')
      client.end(true)
    }
    let failed = { inflight: 0, waiting: 0 }
    if (this.client === client) {
      failed = this.pub?.close(reason) ?? failed
      this.client = null
      this.pub = null
    }
    if (wasOnline) this.log.warn({ reason, ...failed }, 'uplink offline')
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
}

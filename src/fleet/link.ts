import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt'
import { Backoff, errorMessage, redactText, redactUrl, systemClock, type Clock, type Logger, type TimerHandle } from '../core/index.ts'
import { sameTarget } from './link-target.ts'

/** How to reach the cloud broker: built by the gateway from the management uplink's settings. */
export interface LinkSpec {
  /** Servers tried in turn (the uplink's url, then its failover list). */
  servers: string[]
  /** MQTT.js URL and options for one attempt; files (password, certificates) are read here each time. */
  connectArgs(server: string): { url: string; options: IClientOptions }
  protocolVersion: 4 | 5
  backoff: { min: number; max: number }
}

export interface LinkHandlers {
  /** The Will for this attempt (the inventory marked offline). */
  will(): { topic: string; payload: Buffer }
  /** Topic filter subscribed on every connect. */
  subscription: string
  /** A topic watched besides (the gateway's own inventory), without No Local; a broker refusing it only costs a log line. */
  watch?: string
  onOnline(): void
  onMessage(topic: string, payload: Buffer, props: { responseTopic?: string; correlationData?: Buffer }, retained: boolean): void
  /**
   * Messages handled with backpressure (update chunks): when this returns a promise, the next message
   * from the broker is not read until it settles, so a fast sender cannot fill memory faster than the
   * disk takes the chunks. Such messages do not reach onMessage.
   */
  onSlowMessage?(topic: string, payload: Buffer): Promise<void> | null
  /** True for the topics onSlowMessage takes. */
  isSlow?(topic: string): boolean
}

interface Outgoing {
  topic: string
  payload: Buffer
  opts: IClientPublishOptions
}

/** Replies and events kept while offline; a flood of requests cannot grow memory past this. */
const OUTBOX_MAX = 100

/**
 * The management connection: one MQTT.js client at a time on its own client id, reconnecting with
 * jitter. `reconfigure` switches to new settings at once (a pushed config); `generation` tells which
 * settings the current connection was made with, so a commit waits for the new ones to work.
 */
export class MgmtLink {
  private client: MqttClient | null = null
  private spec: LinkSpec
  private gen = 0
  private attempt = 0
  private backoff: Backoff
  private timer: TimerHandle | null = null
  private running = false
  private onlineGen = -1
  /** Bumped by reconfigure: which settings a connection was made with. */
  private specGen = 0
  private onlineSpecGen = -1
  private outbox: Outgoing[] = []
  /** Filters subscribed besides the requests (an update's shared transfer), again on every connect. */
  private extra = new Set<string>()
  lastError: string | null = null
  connects = 0

  constructor(
    spec: LinkSpec,
    private readonly handlers: LinkHandlers,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    this.spec = spec
    this.backoff = new Backoff(spec.backoff.min, spec.backoff.max)
  }

  get online(): boolean {
    return this.onlineGen === this.gen && this.client !== null
  }

  get generation(): number {
    return this.specGen
  }

  /** True once a connection made with the settings of generation `g` is up. */
  onlineWith(g: number): boolean {
    return this.online && this.onlineSpecGen === g
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.connectNow()
  }

  /** Ends the current connection and connects with `spec`; returns the new generation. */
  reconfigure(spec: LinkSpec): number {
    const moving = !sameTarget(this.spec, spec)
    this.spec = spec
    this.backoff = new Backoff(spec.backoff.min, spec.backoff.max)
    this.attempt = 0
    this.lastError = null
    this.specGen++
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = null
    if (!this.running) return this.specGen
    const old = this.online && !moving ? this.client : null
    if (!old) {
      this.dropClient()
      this.connectNow()
      return this.specGen
    }
    // New settings for the same broker are not a lost connection: a DISCONNECT makes the broker drop the
    // Will (the inventory marked offline) [MQTT-3.1.2-10]. (Moving elsewhere drops the connection above.) The new connection waits for it (at most a second): one made with
    // the same client id first would take the session over, and the broker would publish the Will.
    this.gen++
    this.client = null
    const g = this.specGen
    let done = false
    const next = (): void => {
      if (done) return
      done = true
      this.clock.clearTimeout(bound)
      if (this.running && this.specGen === g && this.client === null) this.connectNow()
    }
    const bound = this.clock.setTimeout(() => {
      old.end(true)
      next()
    }, 1000)
    old.end(false, {}, next)
    return this.specGen
  }

  /**
   * Adds `filter` to what this link subscribes to, now and after every reconnect. Resolves true once the
   * broker granted it on the current connection, false when offline (it is subscribed on connect) or refused.
   */
  subscribe(filter: string): Promise<boolean> {
    this.extra.add(filter)
    const client = this.client
    if (!this.online || !client) return Promise.resolve(false)
    return new Promise((resolve) => {
      client.subscribe(filter, this.subOptions(), (err, granted) => resolve(!err && !granted?.some((g) => g.qos === 128)))
    })
  }

  unsubscribe(filter: string): void {
    if (!this.extra.delete(filter)) return
    if (this.online && this.client) this.client.unsubscribe(filter)
  }

  /** Sends now, or keeps it (bounded) until the link is back. QoS 1 throughout. */
  publish(topic: string, payload: Buffer, opts: IClientPublishOptions): void {
    const out = { topic, payload, opts }
    if (this.online && this.client) this.send(this.client, out)
    else {
      if (this.outbox.length >= OUTBOX_MAX) this.outbox.shift()
      this.outbox.push(out)
    }
  }

  /** Like publish, but resolves once the broker acknowledged it (or after `timeout` ms, or at once when offline: then it is kept). */
  publishAcked(topic: string, payload: Buffer, opts: IClientPublishOptions, timeout = 2000): Promise<void> {
    const client = this.client
    if (!this.online || !client) {
      this.publish(topic, payload, opts)
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeout)
      t.unref()
      client.publish(topic, payload, opts, () => {
        clearTimeout(t)
        resolve()
      })
    })
  }

  /** Publishes `last` (the inventory marked offline) and disconnects normally, so the Will is not sent. */
  async stop(last?: { topic: string; payload: Buffer }): Promise<void> {
    this.running = false
    if (this.timer) this.clock.clearTimeout(this.timer)
    this.timer = null
    const client = this.client
    if (client && this.online) {
      const bounded = <T>(p: Promise<T>): Promise<unknown> => Promise.race([p, new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined)
      if (last) await bounded(client.publishAsync(last.topic, last.payload, { qos: 1, retain: true }))
      await bounded(client.endAsync(false))
    }
    this.dropClient()
  }

  private send(client: MqttClient, o: Outgoing): void {
    client.publish(o.topic, o.payload, o.opts, (err) => {
      if (err) this.log.debug({ err: errorMessage(err), topic: o.topic }, 'management message not acknowledged')
    })
  }

  private dropClient(): void {
    this.gen++
    const c = this.client
    this.client = null
    // Our handlers ignore a stale client's events (generation check). Its listeners stay: MQTT.js's own
    // 'close' handler clears its CONNACK timer, which would otherwise hold the process for connect_timeout.
    if (c) c.end(true)
  }

  private connectNow(): void {
    this.timer = null
    if (!this.running) return
    const gen = ++this.gen
    const specGen = this.specGen
    const servers = this.spec.servers
    const server = servers[this.attempt++ % servers.length] as string
    let client: MqttClient
    try {
      const { url, options } = this.spec.connectArgs(server)
      const will = this.handlers.will()
      client = connect(url, { ...options, reconnectPeriod: 0, will: { topic: will.topic, payload: will.payload, qos: 1, retain: true } })
    } catch (err) {
      this.retry(gen, errorMessage(err))
      return
    }
    this.client = client
    let lastErr: string | null = null
    client.on('error', (err) => {
      lastErr = redactText(err.message)
    })
    // Chunks are written before the next message is read (MQTT.js reads one packet at a time and waits
    // for this callback): the broker and TCP hold the rest, not this process.
    client.handleMessage = (packet, done) => {
      const slow = gen === this.gen && packet.cmd === 'publish' ? this.handlers.onSlowMessage?.(String(packet.topic), toBuffer(packet.payload)) : null
      if (!slow) return done()
      slow.then(() => done(), () => done())
    }
    client.on('connect', () => {
      if (gen !== this.gen) return
      const filters = [this.handlers.subscription, ...this.extra]
      client.subscribe(filters, this.subOptions(), (err, granted) => {
        if (gen !== this.gen) return
        if (err || granted?.some((g) => g.qos === 128)) {
          const refused = granted?.filter((g) => g.qos === 128).map((g) => g.topic).join(', ') || filters.join(', ')
          this.lastError = `the cloud broker refused the subscription to ${refused}${err ? ` (${err.message})` : ''}; check its ACL`
          this.log.warn({ server: redactUrl(server) }, this.lastError)
          client.end(true)
          return
        }
        this.onlineGen = gen
        this.onlineSpecGen = specGen
        this.connects++
        this.backoff.reset()
        this.lastError = null
        this.log.info({ server: redactUrl(server) }, 'management channel online')
        const queued = this.outbox.splice(0)
        this.handlers.onOnline()
        for (const o of queued) this.send(client, o)
        const watch = this.handlers.watch
        if (watch !== undefined) {
          client.subscribe(watch, { qos: 1 }, (err, granted) => {
            if (gen === this.gen && (err || granted?.some((g) => g.qos === 128))) this.log.warn({ topic: watch }, 'the cloud broker refused the subscription to the gateway\'s own inventory: a late Last Will will leave it offline until the next refresh; allow the gateway to read it')
          })
        }
      })
    })
    client.on('message', (topic, payload, packet) => {
      if (gen !== this.gen || !this.running || this.handlers.isSlow?.(topic)) return
      const p = packet.properties
      this.handlers.onMessage(topic, payload, {
        ...(p?.responseTopic === undefined ? {} : { responseTopic: p.responseTopic }),
        ...(p?.correlationData === undefined ? {} : { correlationData: p.correlationData }),
      }, packet.retain)
    })
    client.on('close', () => {
      if (gen !== this.gen) return
      const wasOnline = this.onlineGen === gen
      this.onlineGen = -1
      const why = lastErr ?? (wasOnline ? 'connection closed' : 'connection refused or closed before CONNACK')
      if (wasOnline) this.log.warn({ reason: why }, 'management channel offline')
      this.dropClient()
      this.retry(this.gen, why)
    })
  }

  private subOptions(): { qos: 1; nl?: boolean } {
    return this.spec.protocolVersion === 5 ? { qos: 1, nl: true } : { qos: 1 }
  }

  private retry(gen: number, why: string): void {
    if (!this.running || gen !== this.gen) return
    this.lastError = redactText(why)
    const delay = this.backoff.next()
    this.log.debug({ reason: this.lastError, delay }, 'management channel reconnecting')
    this.timer = this.clock.setTimeout(() => this.connectNow(), delay)
  }
}

function toBuffer(p: Buffer | string | undefined): Buffer {
  return Buffer.isBuffer(p) ? p : Buffer.from(p ?? '')
}

import type { UplinkOptions } from './uplink-options.ts'
import { errorMessage, Throttle, type Clock, type Logger, type Qos } from '../core/index.ts'
import type { UplinkTopics } from './options.ts'

/** Logged when the broker refuses the subscription to our own status topic (its ACL). */
export const STATUS_WATCH_REFUSED = 'cloud broker refused the subscription to the uplink\'s own status topic: a late Will will leave it "offline" until the next reconnect; allow the gateway to read it'

/**
 * Keeps the retained status topic saying the birth while the uplink is online. The cloud publishes our
 * Will when it loses the connection; a broker cluster whose node died publishes that node's clients'
 * Wills only once the other nodes miss its heartbeats (Aedes: minutes later with its 60 s heartbeat),
 * which can be after the uplink failed over to another node and published its birth there. The topic
 * would then say "offline" until the next reconnect. So the uplink subscribes to its own status topic
 * and publishes the birth again when its Will arrives while it is online, at most once a second.
 */
export class StatusGuard {
  /** The topic to watch; null when there is no retained status that a Will could overwrite. */
  readonly topic: string | null
  private readonly will: Buffer
  private readonly throttle: Throttle

  /** `rebirth` publishes the birth on the current connection, or returns null when there is none. */
  constructor(cfg: Pick<UplinkOptions, 'will' | 'birth'>, topics: UplinkTopics, clock: Clock, log: Logger, rebirth: () => Promise<unknown> | null) {
    const applies = cfg.will.retain && cfg.birth.retain && topics.birthTopic === topics.statusTopic && cfg.will.payload !== cfg.birth.payload
    this.topic = applies ? topics.statusTopic : null
    this.will = Buffer.from(cfg.will.payload)
    this.throttle = new Throttle(clock, 1000, () => {
      const sent = rebirth()
      if (sent === null) return
      log.info({ topic: this.topic }, 'a late Will marked the uplink offline while it is online: birth published again')
      sent.catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'birth not acknowledged'))
    })
  }

  /** Births published again because a Will came while online. */
  get corrections(): number {
    return this.throttle.runs
  }

  /** Added to the connection's subscriptions: without No Local, since a Will may carry our client id. */
  subscription(): Record<string, { qos: Qos }> {
    return this.topic === null ? {} : { [this.topic]: { qos: 1 } }
  }

  /**
   * A message on the status topic of the current connection. A retained copy came with our subscription,
   * which this connection made before publishing its birth, so the birth supersedes it; a live Will is late.
   */
  received(payload: Buffer, retained: boolean, running: boolean): void {
    if (running && !retained && payload.equals(this.will)) this.throttle.trigger()
  }

  /** The link is down or stopping: a pending re-birth is dropped (the next connect publishes one anyway). */
  cancel(): void {
    this.throttle.cancel()
  }
}

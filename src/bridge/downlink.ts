import type { IPublishPacket } from 'mqtt'
import { errorMessage, topicMatches, type Clock, type LocalBroker, type Logger, type Message, type Qos } from '../core/index.ts'
import { fromPacketProperties } from './packet.ts'
import { filtersOverlap } from './remap.ts'
import { DownlinkRules } from './rules.ts'
import type { DownlinkRule } from './uplink-options.ts'

/**
 * Messages from the cloud into the local broker: the downlink subscriptions, our own messages echoed
 * back (MQTT 3.1.1 has no No Local), the downlink rules, and delivery with the uplink's origin tag.
 */
export class Downlink {
  downlinked = 0
  /** Our own messages that came back down (3.1.1) and were dropped. */
  loopsDropped = 0
  private readonly rules: DownlinkRules

  constructor(
    rules: DownlinkRule[],
    gatewayId: string,
    private readonly v5: boolean,
    /** Remote topics we publish to: on 3.1.1 a message on one of them is our own echo. */
    private readonly ownTopics: string[],
    private readonly local: LocalBroker | undefined,
    private readonly origin: string,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.rules = new DownlinkRules(rules, gatewayId)
    if (!v5) {
      for (const d of this.rules.subscriptions()) {
        const clash = ownTopics.find((own) => filtersOverlap(own, d.filter))
        if (clash) log.warn({ filter: d.filter, own: clash }, 'MQTT 3.1.1 has no No Local: downlink messages on topics we publish to are dropped as echoes')
      }
    }
  }

  /** The subscriptions to make on every connection. */
  subscriptions(): Record<string, { qos: Qos; nl?: boolean }> {
    const subs: Record<string, { qos: Qos; nl?: boolean }> = {}
    for (const d of this.rules.subscriptions()) {
      // No Local: the cloud never sends back what this connection published [MQTT-3.8.3-3]
      subs[d.filter] = this.v5 ? { qos: d.qos, nl: true } : { qos: d.qos }
    }
    return subs
  }

  /** One message from the cloud. Downlink QoS 1/2 was acknowledged by MQTT.js already: a local failure is logged. */
  receive(topic: string, payload: Buffer, packet: IPublishPacket): void {
    if (!this.v5 && this.ownTopics.some((f) => topicMatches(f, topic))) {
      this.loopsDropped++
      return
    }
    const m: Message = { topic, payload, qos: packet.qos, retain: packet.retain, receivedAt: this.clock.now() }
    const props = fromPacketProperties(packet.properties)
    if (props) m.properties = props
    const local = this.rules.inbound(m)
    if (!local || !this.local) return
    this.downlinked++
    this.local.publish({ ...local, origin: this.origin }).catch((err: unknown) => {
      this.log.warn({ err: errorMessage(err), topic: local.topic }, 'downlink message not delivered locally')
    })
  }
}

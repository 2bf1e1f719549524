import type { MqttClient, Packet } from 'mqtt'
import { pubrelSender } from './mqttjs.ts'

/**
 * QoS 2 exchanges the broker may still hold open after a drop. Each connection is a fresh MQTT.js
 * client, so nobody would release them; on a resumed session (clean false) the broker then takes a new
 * PUBLISH that happens to reuse such a packet id for a duplicate and drops it. After reconnecting with
 * the session present we send PUBREL for every one of them first [MQTT-4.4.0-1], as a client that kept
 * its state would.
 */
export class Qos2Recovery {
  private open = new Set<number>()
  private stale = new Set<number>()
  private drained: (() => void) | null = null

  /** Follows one connection's packets. */
  watch(client: MqttClient): void {
    client.on('packetsend', (p: Packet) => {
      if (p.cmd === 'publish' && p.qos === 2 && typeof p.messageId === 'number') this.open.add(p.messageId)
    })
    client.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'pubcomp' && typeof p.messageId === 'number') {
        this.open.delete(p.messageId)
        if (this.stale.delete(p.messageId) && this.stale.size === 0) this.drained?.()
      } else if (p.cmd === 'pubrec' && typeof p.messageId === 'number' && (p.reasonCode ?? 0) >= 0x80) {
        this.open.delete(p.messageId) // a refused PUBREC ends the exchange [MQTT 5.0 §4.3.3]
      }
    })
  }

  /** The connection is gone: what was open may still be open at the broker. */
  lost(): void {
    for (const id of this.open) this.stale.add(id)
    this.open.clear()
  }

  get pending(): number {
    return this.stale.size
  }

  /**
   * Right after CONNACK, before anything else is sent: a new session holds nothing; a resumed one gets
   * PUBREL for each open id. Resolves with how many were released; rejects after `timeout`.
   */
  recover(client: MqttClient, sessionPresent: boolean, timeout: number): Promise<number> {
    if (!sessionPresent) this.stale.clear()
    const ids = [...this.stale]
    if (ids.length === 0) return Promise.resolve(0)
    const send = pubrelSender(client)
    if (send === null) {
      this.stale.clear() // this MQTT.js cannot send a bare PUBREL; nothing better to do than forget them
      return Promise.resolve(0)
    }
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.drained = null
        reject(new Error(`${this.stale.size} QoS 2 releases not completed within ${timeout} ms`))
      }, timeout)
      this.drained = () => {
        clearTimeout(timer)
        this.drained = null
        resolve(ids.length)
      }
      for (const id of ids) send(id)
    })
  }
}

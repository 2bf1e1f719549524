import type { MqttClient, Packet } from 'mqtt'
import { encodePublish, type PublishProperties } from '../core/index.ts'
import { allocateId, releaseId, writeFrames } from './mqttjs.ts'

/** Settles one publish: null on PUBACK (QoS 1) or once written (QoS 0), an Error when refused. */
export type PublishDone = (err: Error | null) => void

/**
 * The forwarder's QoS 0/1 publishes (with their v5 properties), written as pre-encoded PUBLISH frames on the
 * MQTT.js connection's stream (mqttjs.ts says why and what that relies on); MQTT.js keeps the connection
 * (CONNECT, TLS, will, keep-alive, subscribe, QoS 2). Here a publish is one Buffer, and all publishes of
 * one event-loop turn leave in one write.
 *
 * Packet ids come from the connection's own MQTT.js id provider, so they never collide with the ids
 * MQTT.js uses for its own packets. A PUBACK for an id we sent settles it; MQTT.js ignores acks for ids
 * it does not know. When the connection drops the owner rejects everything still waiting: this object
 * belongs to one connection only.
 */
export class FramePublisher {
  private frames: Buffer[] = []
  private bytes = 0
  private written: PublishDone[] = []
  private readonly acks = new Map<number, PublishDone>()
  private scheduled = false
  private closed = false

  constructor(
    private readonly client: MqttClient,
    private readonly v5: boolean,
  ) {
    client.on('packetreceive', (p: Packet) => {
      if (p.cmd === 'puback' && typeof p.messageId === 'number') this.onPuback(p.messageId, p.reasonCode)
    })
  }

  /** QoS 1 publishes waiting for PUBACK. */
  get waiting(): number {
    return this.acks.size
  }

  /** Queues one publish for this turn's write; false when it must go through MQTT.js instead. */
  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean, props: PublishProperties | undefined, done: PublishDone): boolean {
    if (this.closed || topic.length === 0) return false
    let id = 0
    if (qos === 1) {
      const got = allocateId(this.client)
      if (got === null) return false // all ids taken: MQTT.js queues it until one is free
      if (this.acks.has(got)) {
        // An id still waiting here: give it back and let MQTT.js decide (never two publishes on one id).
        releaseId(this.client, got)
        return false
      }
      id = got
      this.acks.set(id, done)
    } else {
      this.written.push(done)
    }
    const frame = encodePublish(topic, payload, qos, retain, false, id, this.v5, props)
    this.frames.push(frame)
    this.bytes += frame.length
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    return true
  }

  /** Writes the frames queued so far (the owner calls it before publishing through MQTT.js, to keep order). */
  flush(): void {
    this.scheduled = false
    if (this.frames.length === 0) return
    const frames = this.frames
    const bytes = this.bytes
    const written = this.written
    this.frames = []
    this.bytes = 0
    this.written = []
    if (this.closed) return // the owner rejects them on close
    // A closed stream: the connection is going down, and its owner rejects them too.
    if (!writeFrames(this.client, frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames, bytes))) return
    for (const done of written) done(null)
  }

  /** The connection is gone: nothing more is written; the owner rejects what was waiting. */
  close(): void {
    this.closed = true
    this.frames = []
    this.written = []
    this.acks.clear()
  }

  private onPuback(id: number, reasonCode: number | undefined): void {
    const done = this.acks.get(id)
    if (!done) return
    this.acks.delete(id)
    releaseId(this.client, id)
    // MQTT 5: a reason code of 0x80 or more refuses the publish [MQTT 5.0 §3.4.2.1]; 3.1.1 PUBACKs have none.
    if (reasonCode !== undefined && reasonCode >= 0x80) done(new Error(`PUBACK reason code 0x${reasonCode.toString(16)}`))
    else done(null)
  }
}

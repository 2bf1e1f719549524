import type { Duplex } from 'node:stream'
import { generate, type Packet } from 'mqtt-packet'
import type { Message, Qos } from '../core/types.ts'
import { errorMessage } from '../core/errors.ts'
import { AckOrder } from './acks.ts'
import type { DeliveryEngine } from './delivery.ts'
import { appendAck } from './encode.ts'
import type { ConnectionState, HandlerConnection, HandlerContext } from './handlers/context.ts'
import { dispatch } from './handlers/index.ts'
import type { ClientIdentity, ConnectionInfo } from './hooks.ts'
import { appendPublish, publishFor } from './outbound.ts'
import { wholePacket, type SharedParser } from './parsers.ts'
import { readChunk, type ReaderOwner } from './reader.ts'
import type { Session, WillSpec } from './session.ts'
import type { Stats } from './stats.ts'
import { Writer } from './writer.ts'

const MAX_BACKLOG_PACKETS = 1000
const OWNER = Symbol('fieldgate.connection')
type OwnedStream = Duplex & { [OWNER]?: Connection }

/** The kind of a close reason for log rate-limiting: up to the first colon ("malformed packet: …"). */
function reasonKind(reason: string): string {
  const i = reason.indexOf(':')
  return (i < 0 ? reason : reason.slice(0, i)).slice(0, 60)
}

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[OWNER]?.onData(chunk)
}

function onStreamError(this: OwnedStream, err: Error): void {
  this[OWNER]?.onStreamError(err)
}

function onStreamClose(this: OwnedStream): void {
  this[OWNER]?.closed()
}

/** What a connection uses of the broker: the handlers' context, plus its own accounting. */
export interface ConnectionContext extends HandlerContext {
  readonly stats: Pick<Stats, 'limit' | 'logs' | 'dropped' | 'bytesIn' | 'bytesOut' | 'messagesOut'>
  readonly delivery: HandlerContext['delivery'] & Pick<DeliveryEngine, 'inboundQos2Stored'>
  /** CONNECT accepted (its state became 'connected'). */
  established(c: Connection): void
  closed(c: Connection): void
}

/**
 * One client connection: parses bytes into packets, hands them to the handler switch, and sends
 * packets through its Writer. Protocol decisions live in the handlers and in delivery.ts.
 */
export class Connection implements HandlerConnection, ReaderOwner {
  /** Key of the per-address limits this connection counts under (null: exempt); set by Admission. */
  addressKey: string | null = null
  clientId = ''
  protocolVersion: 3 | 4 | 5 = 4
  session: Session | null = null
  identity: ClientIdentity
  readonly serial: number
  readonly createdAt: number
  lastRx: number
  keepaliveMs = 0
  will: WillSpec | null = null
  /** Set on DISCONNECT 0x00 or when the will must not be sent. */
  dropWill = false
  /** Client's Maximum Packet Size (v5); 0 = no limit. */
  maxPacketOut = 0
  /** Outbound in-flight window: min(client Receive Maximum, max_inflight). */
  inflightMax: number
  aliasIn: Map<number, string> | null = null
  aliasOut: Map<string, number> | null = null
  aliasOutMax = 0
  /** QoS 1/2 publishes received and not yet fully acknowledged (Receive Maximum accounting). */
  inboundCount = 0
  backlog: Packet[] | null = null
  /** Held only while a packet is split across chunks (reader.ts). */
  parser: SharedParser | null = null
  private readonly writer: Writer
  /** Acknowledgements waiting for their publishes' promises; created on the first that has to wait. */
  private acks: AckOrder | null = null
  private pauses = 0

  private st: ConnectionState = 'new'

  get state(): ConnectionState {
    return this.st
  }

  set state(next: ConnectionState) {
    const was = this.st
    this.st = next
    // per-address and pending accounting (admission.ts); 'closed' is reported by closed()
    if (next === 'connected' && was !== 'connected') this.ctx.established(this)
  }

  constructor(
    readonly ctx: ConnectionContext,
    readonly stream: Duplex,
    readonly info: ConnectionInfo,
    serial: number,
  ) {
    this.serial = serial
    this.createdAt = ctx.clock.now()
    this.lastRx = this.createdAt
    this.inflightMax = ctx.limits.maxInflight
    this.identity = { clientId: '', info }
    this.writer = new Writer(stream, ctx.stats)
    // shared listener functions instead of per-connection closures: idle connections must stay small
    ;(stream as OwnedStream)[OWNER] = this
    stream.on('data', onStreamData)
    stream.on('error', onStreamError)
    stream.on('close', onStreamClose)
  }

  ackWaiting(cmd: 'puback' | 'pubrec', packetId: number): boolean {
    return this.acks?.waits(cmd, packetId) ?? false
  }

  onStreamError(err: Error): void {
    this.ctx.logger.debug({ clientId: this.clientId, err: err.message }, 'client socket error')
    this.closed()
  }

  isOpen(): boolean {
    return this.state !== 'closed'
  }

  get v5(): boolean {
    return this.protocolVersion === 5
  }

  onData(chunk: Buffer): void {
    if (this.state === 'closed') return
    this.ctx.stats.bytesIn += chunk.length
    this.lastRx = this.ctx.clock.now()
    readChunk(this, chunk)
  }

  /** Refuse an oversized packet as soon as its length is known, before buffering it. */
  declared(remaining: number): void {
    if (wholePacket(remaining) > this.ctx.limits.maxPacketSize) this.tooLarge(wholePacket(remaining))
  }

  onParseError(message: string, reasonCode: number, clientId?: string): void {
    if (this.state === 'new' && message === 'Invalid protocol version') {
      // [MQTT-3.1.2-2] unsupported level: CONNACK 0x01 (3.1.1 format, the client may not speak 5), then close
      this.writer.write(Buffer.from([0x20, 2, 0, 1]))
    }
    // a CONNECT refused here never reached the handler: name the client it claimed to be in the log
    if (this.state === 'new' && clientId !== undefined && this.clientId === '') this.clientId = clientId
    // [MQTT-4.13.1-1] malformed packet or protocol error: DISCONNECT with the reason (v5), then close
    this.protocolError(`${reasonCode === 0x82 ? 'protocol error' : 'malformed packet'}: ${message}`, reasonCode)
  }

  private tooLarge(length: number): void {
    this.ctx.stats.limit('packet_size', this.clientId, `packet of ${length} bytes > max_packet_size`)
    this.disconnect(0x95, 'packet too large')
  }

  onPacket(p: Packet): void {
    if (this.state === 'closed') return
    const size = wholePacket(p.length ?? 0)
    if (size > this.ctx.limits.maxPacketSize) return this.tooLarge(size)
    if (this.state === 'connecting') {
      if (p.cmd === 'connect') return this.protocolError('second CONNECT', 0x82) // [MQTT-3.1.0-2]
      if (this.backlog === null) this.backlog = []
      if (this.backlog.length >= MAX_BACKLOG_PACKETS) return this.protocolError('too many packets before CONNACK', 0x82)
      this.backlog.push(p)
      return
    }
    this.run(p)
  }

  /** Dispatch one packet; a handler bug closes only this connection. */
  run(p: Packet): void {
    try {
      dispatch(this, p)
    } catch (err) {
      this.ctx.logger.error({ clientId: this.clientId, cmd: p.cmd, err: errorMessage(err) }, 'handler failed; closing this connection')
      this.disconnect(0x83, 'implementation specific error')
    }
  }

  /** Replays packets that arrived while CONNECT was being authenticated. */
  drainBacklog(): void {
    const b = this.backlog
    this.backlog = null
    if (b !== null) for (const p of b) if (this.state === 'connected') this.run(p)
  }

  pause(): void {
    if (this.pauses++ === 0) this.stream.pause()
  }

  resume(): void {
    if (this.pauses > 0 && --this.pauses === 0 && this.state !== 'closed') this.stream.resume()
  }

  send(p: Packet): void {
    this.writer.write(generate(p, { protocolVersion: this.protocolVersion }))
  }

  sendRaw(buf: Buffer): void {
    this.writer.write(buf)
  }

  sendAck(cmd: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp', packetId: number, reasonCode = 0, reason?: string): void {
    if (reasonCode !== 0 && this.v5) return this.send({ cmd, messageId: packetId, reasonCode, ...(reason === undefined ? {} : { properties: { reasonString: reason } }) })
    if (this.writer.writable) appendAck(this.writer, cmd, packetId)
  }

  sendPubrel(packetId: number): void {
    this.sendAck('pubrel', packetId)
  }

  /** Returns false when the message was not sent (expired, too large for the client, slow consumer). */
  sendPublish(m: Message, qos: Qos, retain: boolean, packetId: number, dup: boolean, subIds: number[] | null): boolean {
    if (!this.writer.writable) return false
    const limits = this.ctx.limits
    let expiry: number | undefined
    const mp = m.properties
    if (mp?.messageExpiryInterval !== undefined) {
      const age = Math.floor((this.ctx.clock.now() - (m.receivedAt ?? 0)) / 1000)
      expiry = mp.messageExpiryInterval - Math.max(0, age)
      if (expiry <= 0) return false // expired messages are not delivered [MQTT-3.3.2-5]
    }
    if (qos === 0 && limits.maxQueuedBytes > 0 && this.writer.backlog > limits.maxQueuedBytes) {
      this.ctx.stats.limit('queued_bytes', this.clientId, 'slow consumer: QoS 0 message dropped')
      return false
    }
    const sent = appendPublish(this, this.writer, this.ctx.stats, m, qos, retain, packetId, dup, subIds)
    if (sent === false) return false
    if (sent === undefined) {
      const buf = publishFor(this, this.ctx.stats, m, qos, retain, packetId, dup, subIds, expiry)
      if (buf === null) return false
      this.writer.write(buf)
    }
    this.ctx.stats.messagesOut++
    return true
  }

  /**
   * Acknowledge an inbound QoS 1/2 publish once `pending` (in-process subscribers, persistent sessions)
   * settles, keeping acknowledgements in arrival order [MQTT-4.6.0-2] (acks.ts).
   */
  acknowledge(cmd: 'puback' | 'pubrec', packetId: number, pending: Promise<void> | undefined): void {
    if (pending === undefined && (this.acks === null || this.acks.idle)) {
      if (cmd === 'puback') this.inboundCount--
      else this.ctx.delivery.inboundQos2Stored(this, packetId)
      this.sendAck(cmd, packetId)
      return
    }
    ;(this.acks ??= new AckOrder(this)).add(cmd, packetId, pending)
  }

  /** Close with a logged reason (the will is sent, as for any abnormal end). */
  protocolError(reason: string, code: number): void {
    if (this.state === 'closed') return
    // one line per kind of error and 10 s, plus a count: a fuzzing or broken client must not flood the log
    this.ctx.stats.logs.log(
      'warn',
      `close:${code}:${reasonKind(reason)}`,
      { clientId: this.clientId || undefined, remote: `${this.info.remoteAddress}:${this.info.remotePort}`, reason },
      `closing connection${this.clientId ? ` of client ${this.clientId}` : ''}: ${reason}`,
    )
    this.disconnect(code, reason)
  }

  /** Server-initiated close; v5 clients get DISCONNECT with the reason code [MQTT-4.13.2-1]. */
  disconnect(reasonCode: number, reason: string): void {
    if (this.state === 'closed') return
    if (this.v5 && this.state === 'connected') {
      this.send({ cmd: 'disconnect', reasonCode, properties: { reasonString: reason } })
    }
    this.writer.end()
    this.closed()
  }

  /** Immediately drop the socket (no CONNECT in time, connection limit). */
  destroy(): void {
    this.writer.destroy()
    this.closed()
  }

  end(): void {
    this.writer.end()
    this.closed()
  }

  closed(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.backlog = null
    this.parser = null // a held parser has a partial packet: not reusable
    this.ctx.closed(this)
  }
}

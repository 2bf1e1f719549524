import { randomBytes } from 'node:crypto'
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet'
import { errorMessage } from '../../core/errors.ts'
import { TOPIC_ALIAS_MAX } from '../../core/mqtt-wire/index.ts'
import type { Message } from '../../core/types.ts'
import type { HandlerConnection } from './context.ts'
import type { AuthResult } from '../hooks.ts'
import { publishProperties } from '../props.ts'
import { badUtf8, topicNameProblem } from '../topics.ts'

/** 3.1.1 CONNACK return codes for the v5 reason codes we use. */
const V4_RETURN: Record<number, number> = { 0x84: 1, 0x85: 2, 0x88: 3, 0x89: 3, 0x80: 3, 0x86: 4, 0x87: 5, 0x8c: 5 }
const CONNACK_OK = Buffer.from([0x20, 2, 0, 0])
const CONNACK_PRESENT = Buffer.from([0x20, 2, 1, 0])

export function handleConnect(c: HandlerConnection, p: IConnectPacket): void {
  if (c.state !== 'new') return c.protocolError('second CONNECT', 0x82) // [MQTT-3.1.0-2]
  const b = c.ctx
  const limits = b.limits
  const version = p.protocolVersion ?? 4
  c.protocolVersion = version
  c.state = 'connecting'
  // [MQTT-3.1.2-1] [MQTT-3.1.2-2] protocol name and level must agree: "MQIsdp" is 3.1, "MQTT" is 3.1.1 or 5
  if ((p.protocolId === 'MQIsdp') !== (version === 3)) return refuse(c, 0x84, `protocol name ${p.protocolId} does not match level ${version}`)
  let clientId = p.clientId
  if (badUtf8(clientId)) return c.protocolError('client identifier is not valid UTF-8', 0x81)
  let assigned = false
  if (clientId === '') {
    // [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.1.3-8] zero-length ids: v5 gets one assigned; 3.1.1 only with clean session; 3.1 never
    if (version === 3 || (version === 4 && p.clean === false)) return refuse(c, 0x85, 'empty client identifier with a persistent session')
    clientId = `fg-${randomBytes(9).toString('base64url')}`
    assigned = version === 5
  }
  c.clientId = clientId
  c.identity = { clientId, info: c.info }
  // [MQTT-3.1.2-22] in 3.1.1 a password needs a user name
  if (version !== 5 && p.password !== undefined && p.username === undefined) return c.protocolError('password without user name', 0x82)
  if (version === 5 && p.properties?.authenticationMethod !== undefined) return refuse(c, 0x8c, 'enhanced authentication is not supported')
  if (p.will !== undefined) {
    const problem = topicNameProblem(p.will.topic, b.topicLimits)
    if (problem !== null) return refuse(c, 0x90, `will topic: ${problem}`) // [MQTT-3.1.3-10] analogue
    if ((p.will.qos ?? 0) > 2) return c.protocolError('will QoS 3', 0x81) // [MQTT-3.1.2-12]
  }

  if (version === 5 && (p.properties?.receiveMaximum === 0 || p.properties?.maximumPacketSize === 0)) {
    return refuse(c, 0x82, 'Receive Maximum and Maximum Packet Size must not be 0') // [MQTT 5.0 §3.1.2.11]
  }
  let keepalive = p.keepalive ?? 0
  let serverKeepAlive: number | undefined
  if (limits.maxKeepalive > 0 && (keepalive > limits.maxKeepalive || (keepalive === 0 && limits.maxKeepalive < 65535))) {
    // 3.1.1 cannot be told another keep-alive; refusing beats dropping a client that pings as agreed (Mosquitto does the same)
    if (version !== 5) {
      b.stats.limit('keepalive', clientId, `keep-alive ${keepalive} s outside max_keepalive ${limits.maxKeepalive} s; refused`)
      return refuse(c, 0x85, `keep-alive must be 1..${limits.maxKeepalive} s`)
    }
    b.stats.limit('keepalive', clientId, `keep-alive ${keepalive} s replaced by Server Keep Alive ${limits.maxKeepalive} s`)
    keepalive = limits.maxKeepalive
    serverKeepAlive = keepalive
  }
  const maxExpiry = Math.floor(limits.maxSessionExpiry / 1000)
  let expiry = version === 5 ? (p.properties?.sessionExpiryInterval ?? 0) : p.clean === false ? maxExpiry : 0
  let expiryCapped = false
  if (expiry > maxExpiry) {
    b.stats.limit('session_expiry', clientId, `session expiry ${expiry} s capped to ${maxExpiry} s`)
    expiry = maxExpiry
    expiryCapped = true
  }

  c.pause() // packets that follow CONNECT wait in the backlog until authentication answers
  const req = { clientId, info: c.info, isOpen: () => c.state === 'connecting', ...(p.username === undefined ? {} : { username: p.username }), ...(p.password === undefined ? {} : { password: p.password }) }
  let auth: Promise<AuthResult>
  try {
    auth = b.hooks.authenticate(req)
  } catch (err) {
    auth = Promise.reject(err)
  }
  auth
    .then(
      (res) => {
        if (c.state !== 'connecting') return
        if (!res.ok) {
          // rate-limited per reason: a login storm writes one line and a count every 10 s
          b.stats.logs.log('info', `refused:${res.reasonCode}`, { clientId, reasonCode: res.reasonCode, remote: c.info.remoteAddress }, `client ${clientId} refused: ${res.reason}`)
          return refuse(c, res.reasonCode, res.reason)
        }
        c.identity = { clientId, info: c.info, ...(res.username === undefined ? {} : { username: res.username }), ...(res.deviceId === undefined ? {} : { deviceId: res.deviceId }) }
        accept(c, p, { keepalive, serverKeepAlive, expiry, expiryCapped, assigned })
      },
      (err: unknown) => {
        if (c.state !== 'connecting') return
        b.logger.error({ clientId, err: errorMessage(err) }, 'authentication hook failed')
        refuse(c, 0x88, 'authentication unavailable')
      },
    )
    // outside the handler switch's try: a throw here (session resume, backlog) would be an unhandled rejection
    .catch((err: unknown) => {
      b.logger.error({ clientId, err: errorMessage(err) }, 'accepting the connection failed; closing it')
      c.disconnect(0x83, 'implementation specific error')
    })
}

interface Accepted {
  keepalive: number
  serverKeepAlive: number | undefined
  expiry: number
  expiryCapped: boolean
  assigned: boolean
}

function accept(c: HandlerConnection, p: IConnectPacket, a: Accepted): void {
  const b = c.ctx
  const limits = b.limits
  const v5 = c.v5
  c.keepaliveMs = a.keepalive * 1000
  if (v5) {
    const props = p.properties
    c.inflightMax = Math.min(props?.receiveMaximum ?? 65535, limits.maxInflight)
    c.maxPacketOut = props?.maximumPacketSize ?? 0
    c.aliasOutMax = props?.topicAliasMaximum ?? 0
  }
  if (p.will !== undefined) c.will = { message: willMessage(c, p.will), delay: v5 ? (p.will.properties?.willDelayInterval ?? 0) : 0 }
  const { session, present } = b.sessions.attach(c, p.clean !== false, a.expiry)
  c.state = 'connected'
  if (v5) {
    const ack: IConnackPacket = { cmd: 'connack', sessionPresent: present, reasonCode: 0 }
    ack.properties = {
      receiveMaximum: limits.maxInflight,
      maximumPacketSize: limits.maxPacketSize,
      topicAliasMaximum: TOPIC_ALIAS_MAX,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
      ...(a.assigned ? { assignedClientIdentifier: c.clientId } : {}),
      ...(a.serverKeepAlive === undefined ? {} : { serverKeepAlive: a.serverKeepAlive }),
      ...(a.expiryCapped ? { sessionExpiryInterval: a.expiry } : {}),
    }
    c.send(ack)
  } else c.sendRaw(present ? CONNACK_PRESENT : CONNACK_OK) // the common case, without building a packet
  if (present) b.delivery.resume(session)
  c.resume()
  c.drainBacklog()
}

function willMessage(c: HandlerConnection, w: NonNullable<IConnectPacket['will']>): Message {
  const m: Message = {
    topic: w.topic,
    payload: typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload,
    qos: w.qos ?? 0,
    retain: w.retain === true,
    origin: c.clientId,
  }
  const props = c.v5 ? publishProperties(w.properties) : undefined
  if (props !== undefined) m.properties = props
  return m
}

/** CONNACK with a failure code, then close [MQTT-3.2.2-5]. */
function refuse(c: HandlerConnection, reasonCode: number, reason: string): void {
  if (c.v5) c.send({ cmd: 'connack', sessionPresent: false, reasonCode, properties: { reasonString: reason } })
  else c.send({ cmd: 'connack', sessionPresent: false, returnCode: V4_RETURN[reasonCode] ?? 3 })
  c.dropWill = true
  c.end()
}

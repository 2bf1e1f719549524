import type { Packet } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'
import { handleAuth } from './auth.ts'
import { handleConnect } from './connect.ts'
import { handleDisconnect } from './disconnect.ts'
import { handlePingreq } from './pingreq.ts'
import { handlePuback } from './puback.ts'
import { handlePubcomp } from './pubcomp.ts'
import { handlePublish } from './publish.ts'
import { handlePubrec } from './pubrec.ts'
import { handlePubrel } from './pubrel.ts'
import { handleSubscribe } from './subscribe.ts'
import { handleUnsubscribe } from './unsubscribe.ts'

/** The one switch from packet type to handler. */
export function dispatch(c: HandlerConnection, p: Packet): void {
  if (c.state === 'new' && p.cmd !== 'connect') {
    return c.protocolError(`first packet must be CONNECT, got ${p.cmd.toUpperCase()}`, 0x82) // [MQTT-3.1.0-1]
  }
  switch (p.cmd) {
    case 'connect':
      return handleConnect(c, p)
    case 'publish':
      return handlePublish(c, p)
    case 'puback':
      return handlePuback(c, p)
    case 'pubrec':
      return handlePubrec(c, p)
    case 'pubrel':
      return handlePubrel(c, p)
    case 'pubcomp':
      return handlePubcomp(c, p)
    case 'subscribe':
      return handleSubscribe(c, p)
    case 'unsubscribe':
      return handleUnsubscribe(c, p)
    case 'pingreq':
      return handlePingreq(c)
    case 'disconnect':
      return handleDisconnect(c, p)
    case 'auth':
      return handleAuth(c)
    default:
      return c.protocolError(`a client may not send ${p.cmd.toUpperCase()}`, 0x82)
  }
}

import type { IUnsubscribePacket } from 'mqtt-packet'
import type { HandlerConnection } from './context.ts'
import { badUtf8 } from '../topics.ts'

/** UNSUBSCRIBE: remove exact filters; v5 reports 0x11 for filters that had no subscription. */
export function handleUnsubscribe(c: HandlerConnection, p: IUnsubscribePacket): void {
  const b = c.ctx
  const s = c.session
  if (s === null) return
  const id = p.messageId
  if (id === undefined || id === 0) return c.protocolError('UNSUBSCRIBE without packet identifier', 0x81)
  if (p.unsubscriptions.length === 0) return c.protocolError('UNSUBSCRIBE without topic filters', 0x82) // [MQTT-3.10.3-2]
  const codes: number[] = []
  let changed = false
  for (const filter of p.unsubscriptions) {
    if (badUtf8(filter)) return c.protocolError('topic filter is not valid UTF-8', 0x81)
    const sub = s.subscriptions.get(filter)
    if (sub === undefined) {
      codes.push(0x11)
      continue
    }
    b.trie.remove(sub)
    s.deleteSubscription(filter)
    codes.push(0)
    changed = true
  }
  // [MQTT-3.10.4-4] UNSUBACK is sent even when nothing matched
  if (c.v5) c.send({ cmd: 'unsuback', messageId: id, granted: codes })
  else c.send({ cmd: 'unsuback', messageId: id, granted: [] })
  if (changed && s.persistent) b.persistence.saveSession(s)
}

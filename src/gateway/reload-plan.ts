import { isDeepStrictEqual } from 'node:util'
import type { Config } from '../config/index.ts'

/** What a config reload would change; pure, so it is unit-tested without starting anything. */
export interface ReloadPlan {
  uplinksAdded: string[]
  uplinksRemoved: string[]
  uplinksChanged: string[]
  devicesChanged: string[]
  listenersChanged: boolean
  logLevel: Config['log']['level'] | null
  /** Changes that cannot be applied while running, with the key that changed. */
  refused: string[]
}

export function planReload(cur: Config, next: Config): ReloadPlan {
  const refused: string[] = []
  if (cur.gateway.id !== next.gateway.id) refused.push('gateway.id changed')
  if (!isDeepStrictEqual(cur.storage, next.storage)) refused.push('storage changed')
  if (!isDeepStrictEqual(cur.broker.limits, next.broker.limits)) refused.push('broker.limits changed')
  if (!isDeepStrictEqual(cur.broker.auth, next.broker.auth)) refused.push('broker.auth file paths changed (edits to the files themselves are applied)')
  if (!isDeepStrictEqual(cur.status, next.status)) refused.push('status changed')
  const curUp = new Map(cur.uplinks.map((u) => [u.name, u]))
  const nextUp = new Map(next.uplinks.map((u) => [u.name, u]))
  const curDev = new Map(cur.devices.map((d) => [d.id, d]))
  const nextDev = new Map(next.devices.map((d) => [d.id, d]))
  const devicesChanged = [
    ...[...nextDev.keys()].filter((id) => !isDeepStrictEqual(curDev.get(id), nextDev.get(id))),
    ...[...curDev.keys()].filter((id) => !nextDev.has(id)),
  ]
  return {
    uplinksAdded: [...nextUp.keys()].filter((n) => !curUp.has(n)),
    uplinksRemoved: [...curUp.keys()].filter((n) => !nextUp.has(n)),
    uplinksChanged: [...nextUp.keys()].filter((n) => curUp.has(n) && !isDeepStrictEqual(curUp.get(n), nextUp.get(n))),
    devicesChanged,
    listenersChanged: !isDeepStrictEqual(cur.broker.listeners, next.broker.listeners),
    logLevel: cur.log.level === next.log.level ? null : next.log.level,
    refused,
  }
}

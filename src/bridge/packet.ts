import type { IPublishPacket } from 'mqtt'
import type { PublishProperties } from '../core/index.ts'

/** v5 publish properties as MQTT.js decodes them, in our Message form. */
export function fromPacketProperties(p: IPublishPacket['properties']): PublishProperties | undefined {
  if (!p) return undefined
  const out: PublishProperties = {}
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator
  if (p.messageExpiryInterval !== undefined) out.messageExpiryInterval = p.messageExpiryInterval
  if (p.contentType !== undefined) out.contentType = p.contentType
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic
  if (p.correlationData !== undefined) out.correlationData = p.correlationData
  if (p.userProperties !== undefined) out.userProperties = p.userProperties
  return Object.keys(out).length > 0 ? out : undefined
}

/** Rejects when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      (err: unknown) => {
        clearTimeout(t)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })
}

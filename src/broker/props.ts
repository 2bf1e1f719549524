import type { PublishProperties } from '../core/types.ts'

interface WireProps {
  payloadFormatIndicator?: boolean
  messageExpiryInterval?: number
  contentType?: string
  responseTopic?: string
  correlationData?: Buffer
  userProperties?: Record<string, string | string[]>
}

/** The end-to-end v5 properties of a PUBLISH or will (aliases and subscription ids are per hop and dropped). */
export function publishProperties(pp: WireProps | undefined): PublishProperties | undefined {
  if (pp === undefined) return undefined
  const out: PublishProperties = {}
  let n = 0
  if (pp.payloadFormatIndicator !== undefined) {
    out.payloadFormatIndicator = pp.payloadFormatIndicator
    n++
  }
  if (pp.messageExpiryInterval !== undefined) {
    out.messageExpiryInterval = pp.messageExpiryInterval
    n++
  }
  if (pp.contentType !== undefined) {
    out.contentType = pp.contentType
    n++
  }
  if (pp.responseTopic !== undefined) {
    out.responseTopic = pp.responseTopic
    n++
  }
  if (pp.correlationData !== undefined) {
    out.correlationData = pp.correlationData
    n++
  }
  if (pp.userProperties !== undefined) {
    out.userProperties = pp.userProperties
    n++
  }
  return n > 0 ? out : undefined
}

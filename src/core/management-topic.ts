/**
 * The fleet management topic tree on the cloud broker is `fieldgate/<gateway id>/mgmt/...`
 * (docs/fleet.md), plus the shared update transfers under `fieldgate/updates/...`, where an operator
 * publishes an update's chunks once for every gateway receiving it. Data never crosses into either or
 * out of them: forward rules must not publish into them (a LAN client could send management requests
 * or chunks through the cloud) and downlink rules must not copy from them (pushed configs carry the
 * cloud credentials; a transfer is tens of MB). Both the bridge and the fleet module check it.
 */
/** The tree of shared update transfers: `fieldgate/updates/<transfer id>/<chunk index>`. */
export const UPDATE_TRANSFERS = 'fieldgate/updates'

export function isManagementTopic(topic: string): boolean {
  if (!topic.startsWith('fieldgate/')) return false
  if (topic === UPDATE_TRANSFERS || topic.startsWith(`${UPDATE_TRANSFERS}/`)) return true
  const slash = topic.indexOf('/', 10)
  return slash > 10 && (topic.startsWith('/mgmt/', slash) || (topic.length === slash + 5 && topic.endsWith('/mgmt')))
}

/** True for a reply subtree (`fieldgate/<id>/mgmt/res/...`), the only part of a management tree a reply may go to. */
export function isManagementReplyTopic(topic: string): boolean {
  if (!isManagementTopic(topic)) return false
  const slash = topic.indexOf('/', 10)
  return topic.startsWith('/mgmt/res/', slash) && topic.length > slash + 10
}

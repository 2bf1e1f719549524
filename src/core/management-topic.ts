/**
 * The fleet management topic tree on the cloud broker is `fieldgate/<gateway id>/mgmt/...`
 * (docs/fleet.md). Data never crosses into it or out of it: forward rules must not publish into it
 * (a LAN client could send management requests through the cloud) and downlink rules must not copy
 * from it (pushed configs carry the cloud credentials). Both the bridge and the fleet module check it.
 */
export function isManagementTopic(topic: string): boolean {
  if (!topic.startsWith('fieldgate/')) return false
  const slash = topic.indexOf('/', 10)
  return slash > 10 && (topic.startsWith('/mgmt/', slash) || (topic.length === slash + 5 && topic.endsWith('/mgmt')))
}

/** True for a reply subtree (`fieldgate/<id>/mgmt/res/...`), the only part of a management tree a reply may go to. */
export function isManagementReplyTopic(topic: string): boolean {
  if (!isManagementTopic(topic)) return false
  const slash = topic.indexOf('/', 10)
  return topic.startsWith('/mgmt/res/', slash) && topic.length > slash + 10
}

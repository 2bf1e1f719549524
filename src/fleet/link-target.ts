/** The part of a LinkSpec (link.ts) that says where and how it connects. */
interface LinkTarget {
  servers: string[]
  protocolVersion: 4 | 5
  connectArgs(server: string): { url: string; options: object }
}

/** What one connection attempt would send, as comparable text (functions dropped, Buffers as their bytes). */
function attempt(spec: LinkTarget, server: string): string | null {
  try {
    const { url, options } = spec.connectArgs(server)
    return JSON.stringify([url, { ...options, will: undefined }])
  } catch {
    return null
  }
}

/**
 * True when `b` connects to the same brokers in the same way as `a` (servers, URL, credentials, TLS,
 * client id, protocol): only then is a new config's reconnect not a move. A link that moves elsewhere
 * lets its old broker publish the Will, so the fleet there sees the gateway leave instead of a retained
 * "online" that nobody will correct if the new settings never connect.
 */
export function sameTarget(a: LinkTarget, b: LinkTarget): boolean {
  if (a.protocolVersion !== b.protocolVersion || a.servers.length !== b.servers.length) return false
  return a.servers.every((s, i) => {
    if (s !== b.servers[i]) return false
    const before = attempt(a, s) // reads the password and certificate files: once per side
    return before !== null && before === attempt(b, s)
  })
}

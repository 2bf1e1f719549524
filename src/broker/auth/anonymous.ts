import { isIPv4, isIPv6 } from 'node:net'

/**
 * Secure by default, as Mosquitto 2: a listener bound only to loopback accepts anonymous clients
 * unless told otherwise; any other bind address (including 0.0.0.0 and ::) refuses them unless its
 * options say `allowAnonymous: true`.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '')
  if (h === 'localhost') return true
  const v4 = h.startsWith('::ffff:') && isIPv4(h.slice(7)) ? h.slice(7) : h
  if (isIPv4(v4)) return v4.startsWith('127.')
  if (isIPv6(h)) return /^(0{0,4}:){7}0{0,3}1$|^::1$|^(0{1,4}:){1,6}:1$/.test(h)
  return false
}

export function listenerAllowsAnonymous(listener: { host: string; allowAnonymous?: boolean | undefined }): boolean {
  return listener.allowAnonymous ?? isLoopbackHost(listener.host)
}

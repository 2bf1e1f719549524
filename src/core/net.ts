import { isIPv4, isIPv6 } from 'node:net'

/**
 * A bind address that only this machine can reach: localhost, 127.0.0.0/8, ::1 (also written in full
 * or as ::ffff:127.x). The wildcards 0.0.0.0 and :: are not loopback: they listen on every interface.
 */
export function isLoopbackAddress(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '')
  if (h === 'localhost') return true
  const v4 = h.startsWith('::ffff:') && isIPv4(h.slice(7)) ? h.slice(7) : h
  if (isIPv4(v4)) return v4.startsWith('127.')
  if (isIPv6(h)) return /^(0{0,4}:){7}0{0,3}1$|^::1$|^(0{1,4}:){1,6}:1$/.test(h)
  return false
}

import type { ParseResult } from './types.ts'

/** XOR of the characters between "$" and "*", as two upper-case hex digits (NMEA 0183). */
export function nmeaChecksum(body: string): string {
  let x = 0
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i)
  return x.toString(16).toUpperCase().padStart(2, '0')
}

/** ddmm.mmmm / dddmm.mmmm with hemisphere → signed decimal degrees. */
function coord(v: string | undefined, hemi: string | undefined, degDigits: number): number | undefined {
  if (!v || !hemi) return undefined
  const deg = Number(v.slice(0, degDigits))
  const min = Number(v.slice(degDigits))
  if (!Number.isFinite(deg) || !Number.isFinite(min)) return undefined
  const d = Number((deg + min / 60).toFixed(7))
  return hemi === 'S' || hemi === 'W' ? -d : d
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  return Number.isFinite(n) ? n : undefined
}

/**
 * GGA and RMC sentences from any talker (GP, GN, GL…). A missing or wrong checksum is garbage. Other
 * standard sentences, proprietary ones (`$P` + maker: u-blox `$PUBX`, MediaTek `$PMTK`, Garmin `$PGRM…`)
 * and encapsulated ones (`!AIVDM`) are valid but carry nothing for us (null).
 */
export function parseNmea(line: string): ParseResult {
  const m = /^([$!])([A-Z0-9]{3,10}),([^*]*)\*([0-9A-Fa-f]{2})$/.exec(line.trim())
  if (!m) return { error: 'not an NMEA sentence with checksum' }
  const [, start, address, data, sum] = m as unknown as [string, string, string, string, string]
  if (nmeaChecksum(`${address},${data}`) !== sum.toUpperCase()) return { error: 'NMEA checksum mismatch' }
  if (start === '!' || address.startsWith('P')) return null
  if (!/^[A-Z]{2}[A-Z]{3}$/.test(address)) return null
  const type = address.slice(2)
  const f = data.split(',')
  const fields: Record<string, unknown> = { sentence: type, time: f[0] }
  if (type === 'GGA') {
    const fix = num(f[5]) ?? 0
    Object.assign(fields, {
      fix_quality: fix,
      satellites: num(f[6]),
      hdop: num(f[7]),
      alt: num(f[8]),
    })
    if (fix > 0) Object.assign(fields, { lat: coord(f[1], f[2], 2), lon: coord(f[3], f[4], 3) })
  } else if (type === 'RMC') {
    const valid = f[1] === 'A'
    fields.valid = valid
    if (valid) {
      const kn = num(f[6])
      Object.assign(fields, {
        lat: coord(f[2], f[3], 2),
        lon: coord(f[4], f[5], 3),
        speed_kn: kn,
        speed: kn === undefined ? undefined : Number((kn * 1.852).toFixed(3)),
        course: num(f[7]),
        date: f[8],
      })
    }
  } else {
    return null
  }
  for (const k of Object.keys(fields)) if (fields[k] === undefined) delete fields[k]
  return { fields }
}

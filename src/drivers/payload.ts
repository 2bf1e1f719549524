import type { Reading } from '../core/index.ts'

/** `{gateway}`, `{device}`, `{point}` substituted into a topic template. */
export function topicFor(template: string, gateway: string, device: string, point: string): string {
  return template.replaceAll('{gateway}', gateway).replaceAll('{device}', device).replaceAll('{point}', point)
}

/** The subscription filter for a device's command topics, and a matcher that extracts the point. */
export function commandTopics(template: string, gateway: string, device: string): { filter: string; pointOf(topic: string): string | null } {
  const base = template.replaceAll('{gateway}', gateway).replaceAll('{device}', device)
  // A level holding {point} (possibly with a prefix) must be a whole-level wildcard in the filter.
  const filter = `${base.split('/').map((l) => (l.includes('{point}') ? '+' : l)).join('/')}/set`
  const parts = `${base}/set`.split('/')
  return {
    filter,
    pointOf(topic: string): string | null {
      const got = topic.split('/')
      if (got.length !== parts.length) return null
      let point: string | null = null
      for (let i = 0; i < parts.length; i++) {
        const want = parts[i] as string
        const seg = got[i] as string
        if (want.includes('{point}')) {
          const [pre, post] = want.split('{point}') as [string, string]
          if (!seg.startsWith(pre) || !seg.endsWith(post) || seg.length <= pre.length + post.length) return null
          const candidate = seg.slice(pre.length, seg.length - post.length)
          if (point !== null && point !== candidate) return null
          point = candidate
        } else if (want !== seg) return null
      }
      return point
    },
  }
}

/** The published payload: JSON {v,u,ts,q} (plus `err` on errors) or the bare value. */
export function formatReading(r: Reading, mode: 'json' | 'raw', lastGood?: Reading['value']): Buffer {
  if (mode === 'raw') return Buffer.from(r.quality === 'error' ? '' : String(r.value))
  const body: Record<string, unknown> = { v: r.quality === 'error' ? (lastGood ?? null) : r.value }
  if (r.unit !== undefined) body.u = r.unit
  body.ts = r.ts
  body.q = r.quality
  if (r.error) body.err = r.error
  return Buffer.from(JSON.stringify(body))
}

/** A command payload: a JSON value, {"v": value} / {"value": value}, or plain text (number, true/false, string). */
export function parseCommand(payload: Buffer): unknown {
  const text = payload.toString('utf8').trim()
  if (text === '') return undefined
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return text
  }
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>
    if ('v' in o) return o.v
    if ('value' in o) return o.value
  }
  return v
}

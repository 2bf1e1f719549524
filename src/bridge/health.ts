import type { LocalBroker, Logger, Status } from '../core/index.ts'
import { errorMessage } from '../core/index.ts'

/**
 * Mirrors an uplink's health as retained local topics `$SYS/fieldgate/bridge/{name}/{key}` so LAN
 * clients and the status page can watch it. Publishes only values that changed.
 */
export class HealthTopics {
  private readonly last = new Map<string, string>()

  constructor(
    private readonly local: LocalBroker | undefined,
    private readonly name: string,
    private readonly origin: string,
    private readonly logger: Logger,
  ) {}

  publish(details: Record<string, unknown>): void {
    if (!this.local) return
    for (const [key, value] of Object.entries(details)) {
      const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value)
      if (this.last.get(key) === text) continue
      this.last.set(key, text)
      this.local
        .publish({
          topic: `$SYS/fieldgate/bridge/${this.name}/${key}`,
          payload: Buffer.from(text),
          qos: 0,
          retain: true,
          origin: this.origin,
        })
        .catch((err: unknown) => this.logger.debug({ err: errorMessage(err), key }, 'bridge health topic not published'))
    }
  }
}

export function healthOf(state: string, lastError: string | null): Pick<Status, 'health' | 'reason'> {
  if (state === 'online') return { health: 'ok' }
  const reason = lastError ?? state
  return state === 'offline' ? { health: 'down', reason } : { health: 'degraded', reason }
}

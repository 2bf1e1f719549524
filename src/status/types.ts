import type { Reading } from '../core/index.ts'

/** What the status server streams on /events: readings and state changes of sources and devices. */
export type StatusEvent =
  | { type: 'reading'; reading: Reading }
  | { type: 'state'; source: string; device?: string; state: string; reason?: string; ts?: number }

export interface StatusEventSource {
  /** Registers a listener; returns the function that removes it. */
  on(cb: (e: StatusEvent) => void): () => void
}

export interface SystemInfo {
  /** 1, 5 and 15 minute load averages. */
  load: number[]
  cpus: number
  /** Share of one core this process used since the previous sample, in percent. */
  process_cpu_percent: number | null
  memory: { total: number; free: number; rss: number; heap_used: number }
  disk: { path: string; total: number; free: number; used: number } | null
  /** SoC temperature in °C from /sys/class/thermal, null where the board has none. */
  temperature_c: number | null
}

export interface ReloadResult {
  ok: boolean
  reason?: string
}

export interface ReloadRecord extends ReloadResult {
  at: number
  /** Who asked: the status page or a signal. */
  via: string
}

/** The built-in demo's stand-in cloud broker, which the page may cut and restore. */
export interface DemoCloudControl {
  state(): { up: boolean; url: string }
  set(up: boolean): Promise<void>
}

/** The `[status]` section as the server needs it; src/config's StatusConfig satisfies it (status imports only core). */
export interface StatusServerConfig {
  host: string
  port: number
  token_file?: string | undefined
  basic_auth?: { username: string; password_file: string } | undefined
  allow_reload: boolean
  /** Needed to serve the page without a login on a non-loopback host. */
  allow_anonymous?: boolean | undefined
  heartbeat: number
  max_event_clients: number
  event_buffer: number
}

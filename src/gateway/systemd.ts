import { execFile } from 'node:child_process'
import type { Logger } from '../core/index.ts'

/**
 * systemd's readiness and watchdog protocol (sd_notify) for Type=notify with WatchdogSec. Node has no
 * unix datagram sockets, so each message goes through the `systemd-notify` command (the unit sets
 * NotifyAccess=all, since the sender is a child). systemd-notify waits until systemd has read the message,
 * so it is attributed to this service before the child exits. Without NOTIFY_SOCKET, all of it is off.
 */
export interface Notifier {
  /** READY=1: every listener, device and uplink has started. Starts the watchdog pings when asked for. */
  ready(summary: string): void
  /** STOPPING=1, and no more watchdog pings. */
  stopping(): void
  readonly watchdogMs: number | null
}

export function systemdNotifier(env: NodeJS.ProcessEnv, log: Logger, command = 'systemd-notify'): Notifier {
  const socket = env.NOTIFY_SOCKET
  const usec = Number(env.WATCHDOG_USEC)
  // WATCHDOG_PID names the process meant to ping; another process (a child that inherited it) must not.
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid
  const watchdogMs = socket && Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 1000)) : null
  let timer: NodeJS.Timeout | null = null
  let failures = 0

  const send = (vars: string[]): void => {
    if (!socket) return
    execFile(command, [`--pid=${process.pid}`, ...vars], { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5000 }, (err) => {
      if (!err) return
      // Logged once per run of failures: a missing systemd-notify must not flood the journal every ping.
      if (failures++ === 0) log.error({ err: err.message, vars }, 'systemd notification failed (is systemd-notify installed?)')
    })
  }

  return {
    watchdogMs,
    ready(summary) {
      send(['READY=1', `STATUS=${summary}`])
      if (watchdogMs === null || timer) return
      // Half the watchdog interval, as sd_watchdog_enabled(3) advises. A blocked event loop stops the
      // pings, and systemd restarts the gateway.
      timer = setInterval(() => send(['WATCHDOG=1']), Math.max(1, Math.floor(watchdogMs / 2)))
      timer.unref()
    },
    stopping() {
      if (timer) clearInterval(timer)
      timer = null
      send(['STOPPING=1'])
    },
  }
}

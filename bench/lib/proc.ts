import { readFileSync } from 'node:fs'

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every mainstream Linux build (x86, arm). */
const CLK_TCK = 100

/** Resident set size of `pid` in KiB (VmRSS from /proc/<pid>/status), or NaN if the process is gone. */
export function rssKb(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8')
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
    return m?.[1] ? Number(m[1]) : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** CPU time (user + system) used so far by `pid`, in milliseconds, or NaN if it is gone. */
export function cpuMs(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // comm (field 2) may contain spaces and parentheses: fields after the last ')' are fixed.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
    const utime = Number(rest[11])
    const stime = Number(rest[12])
    return ((utime + stime) * 1000) / CLK_TCK
  } catch {
    return Number.NaN
  }
}

/** CPU-use meter for one other process and this one, over a wall-clock interval. */
export class CpuMeter {
  private brokerStart = 0
  private selfStart = process.cpuUsage()
  private wallStart = 0

  constructor(private readonly pid: number) {}

  start(): void {
    this.brokerStart = cpuMs(this.pid)
    this.selfStart = process.cpuUsage()
    this.wallStart = performance.now()
  }

  /** Percent of one core used since start() by the broker and by this (load-generator) process, and the broker's CPU ms. */
  stop(): { brokerCpuPct: number; genCpuPct: number; brokerCpuMs: number } {
    const wall = performance.now() - this.wallStart
    const broker = cpuMs(this.pid) - this.brokerStart
    const self = process.cpuUsage(this.selfStart)
    const selfMs = (self.user + self.system) / 1000
    return { brokerCpuPct: round1((broker / wall) * 100), genCpuPct: round1((selfMs / wall) * 100), brokerCpuMs: broker }
  }
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10
}

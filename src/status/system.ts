import { readdirSync, readFileSync, statfsSync } from 'node:fs'
import { cpus, freemem, loadavg, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import type { SystemInfo } from './types.ts'

const THERMAL = '/sys/class/thermal'

/**
 * Samples the host: load, memory, disk of the data dir and the SoC temperature. Returns a
 * function so the process-CPU share is measured between successive calls.
 */
export function systemSampler(dataDir: string, thermalRoot = THERMAL): () => SystemInfo {
  let prevCpu = process.cpuUsage()
  let prevAt = process.hrtime.bigint()
  const cpuCount = Math.max(1, cpus().length)
  return () => {
    const now = process.hrtime.bigint()
    const cpu = process.cpuUsage()
    const elapsedUs = Number(now - prevAt) / 1000
    const usedUs = cpu.user - prevCpu.user + (cpu.system - prevCpu.system)
    prevCpu = cpu
    prevAt = now
    const mem = process.memoryUsage()
    return {
      load: loadavg().map((n) => Math.round(n * 100) / 100),
      cpus: cpuCount,
      process_cpu_percent: elapsedUs > 0 ? Math.round((usedUs / elapsedUs) * 1000) / 10 : null,
      memory: { total: totalmem(), free: freemem(), rss: mem.rss, heap_used: mem.heapUsed },
      disk: diskUsage(dataDir),
      temperature_c: socTemperature(thermalRoot),
    }
  }
}

export function diskUsage(path: string): SystemInfo['disk'] {
  const abs = resolve(path)
  // The data dir may not exist yet on first start: measure the nearest existing parent.
  for (let p = abs, i = 0; i < 64; i++) {
    try {
      const s = statfsSync(p)
      const total = s.blocks * s.bsize
      const free = s.bavail * s.bsize
      return { path: abs, total, free, used: total - s.bfree * s.bsize }
    } catch {
      const parent = resolve(p, '..')
      if (parent === p) return null
      p = parent
    }
  }
  return null
}

/** Highest temperature among thermal zones (millidegrees in sysfs); null when there are none. */
export function socTemperature(root = THERMAL): number | null {
  let zones: string[]
  try {
    zones = readdirSync(root).filter((z) => z.startsWith('thermal_zone'))
  } catch {
    return null
  }
  let best: number | null = null
  for (const z of zones.slice(0, 32)) {
    try {
      const milli = Number(readFileSync(join(root, z, 'temp'), 'utf8').trim())
      if (Number.isFinite(milli) && (best === null || milli / 1000 > best)) best = milli / 1000
    } catch {
      // zone without a readable temp
    }
  }
  return best
}

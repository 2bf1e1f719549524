import { existsSync } from 'node:fs'
import { errorMessage, type Logger } from '../core/index.ts'
import { linkSpec, realHardware, type Hardware } from './factory.ts'
import { isLegacyOrder, legacyOrderNotice, pointWidth } from './modbus/codec.ts'
import { modbusError } from './modbus/errors.ts'
import type { DeviceOptions } from './options.ts'

/** For `fieldgate check`: the port exists and opens; a Modbus device answers one read of its first point. */
export async function probeDevice(cfg: DeviceOptions, logger: Logger, hw: Hardware = realHardware): Promise<{ ok: boolean; detail: string }> {
  const log = logger.child({ device: cfg.id, probe: true })
  if (cfg.driver === 'simulated') return { ok: true, detail: 'simulated device, nothing to probe' }
  if (cfg.driver === 'serial' || cfg.driver === 'modbus-rtu') {
    if (!existsSync(cfg.port)) return { ok: false, detail: `${cfg.port} does not exist; is the adapter plugged in? (ls /dev/serial/by-id/)` }
  }
  if (cfg.driver === 'serial') {
    const port = hw.openSerialPort({ path: cfg.port, baudRate: cfg.baud, dataBits: cfg.dataBits, parity: cfg.parity, stopBits: cfg.stopBits })
    port.on('error', () => undefined)
    const err = await new Promise<Error | null>((resolve) => port.open((e) => resolve(e)))
    if (err) return { ok: false, detail: `cannot open ${cfg.port}: ${err.message} (permissions: is the user in the dialout group?)` }
    await new Promise<void>((resolve) => port.close(() => resolve()))
    return { ok: true, detail: `${cfg.port} opens at ${cfg.baud} baud` }
  }
  const spec = linkSpec(cfg)
  const where = spec.kind === 'rtu' ? spec.path : `${spec.host}:${spec.port}`
  let transport
  try {
    transport = await hw.modbusTransport(spec)()
  } catch (err) {
    return { ok: false, detail: `cannot open ${where}: ${errorMessage(err)}` }
  }
  const p = cfg.points[0]
  try {
    if (!p) return { ok: true, detail: `${where} opens; no points to read` }
    const unit = cfg.unitId
    if (p.table === 'coil' || p.table === 'discrete') await transport.readBits(unit, p.table, p.address, 1, cfg.timeout)
    else await transport.readRegisters(unit, p.table, p.address, pointWidth(p), cfg.timeout)
    const note = isLegacyOrder(cfg.byteOrder) ? `; note: ${legacyOrderNotice(cfg.byteOrder)}` : ''
    return { ok: true, detail: `unit ${unit} at ${where} answered a read of ${p.name} (${p.table} ${p.address})${note}` }
  } catch (err) {
    const fe = modbusError(err, { device: cfg.id, unit: cfg.unitId, what: `${p?.table} ${p?.address}`, timeout: cfg.timeout })
    log.debug({ err: fe.message }, 'probe failed')
    return { ok: false, detail: fe.message }
  } finally {
    await transport.close().catch(() => undefined)
  }
}

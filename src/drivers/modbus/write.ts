import type { ModbusCommonOptions, ModbusPointOptions } from '../options.ts'
import type { WriteOutcome } from '../types.ts'
import { checkWrite, rejectWrite, type ValueKind } from '../write-check.ts'
import { applyMasks, bitMasks, decode, encode, isBitPoint, pointWidth, type CodecPoint } from './codec.ts'
import { modbusError } from './errors.ts'
import type { ModbusLine } from './line.ts'

function kindOf(p: ModbusPointOptions): ValueKind {
  if (p.table === 'coil' || p.table === 'discrete' || p.type === 'bool') return 'bool'
  if (p.type === 'bitfield') return p.bits === 1 ? 'bool' : 'integer'
  if (p.type === 'string') return 'string'
  return 'number'
}

function same(a: unknown, b: unknown, p: ModbusPointOptions): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    // Scaled integers and float32 cannot hold every decimal exactly; accept one raw step / float32 precision.
    const tol = p.type === 'float32' ? Math.max(1e-6, Math.abs(a) * 1e-6) : p.type === 'float64' ? 1e-9 : Math.abs(p.scale) / 2
    const dec = p.decimals !== undefined ? 0.5 * 10 ** -p.decimals : 0
    return Math.abs(a - b) <= Math.max(tol, dec)
  }
  return a === b
}

/**
 * Checks the value, writes it (coil, register or registers, with the point's type/order/scale reversed),
 * reads it back through the same line and confirms. Every refusal is a DRIVER_WRITE_REJECTED error.
 * Bits of a register (bool with `bit`, bitfield) are written by FC 22 where the device supports it, else
 * by a read-modify-write inside one line transaction, so nothing else on the line runs in between and
 * no other bit of the register changes.
 */
export async function writePoint(
  device: string,
  cfg: Pick<ModbusCommonOptions, 'unitId' | 'timeout' | 'writeFunction' | 'maskWrite'>,
  p: (ModbusPointOptions & CodecPoint) | undefined,
  name: string,
  value: unknown,
  line: ModbusLine,
): Promise<WriteOutcome> {
  const v = checkWrite(device, p, name, p ? kindOf(p) : 'number', value)
  if (!p) throw rejectWrite(device, name, 'no such point')
  if (p.table === 'discrete' || p.table === 'input') throw rejectWrite(device, name, `${p.table} ${p.table === 'input' ? 'registers' : 'inputs'} are read-only in Modbus`)
  const unit = cfg.unitId
  const timeout = cfg.timeout
  const fc = p.writeFunction ?? cfg.writeFunction
  const where = { device, unit, what: `write ${p.table} ${p.address}`, timeout }
  const bits = isBitPoint(p)
  let words: number[] = []
  let masks: { and: number; or: number } = { and: 0xffff, or: 0 }
  try {
    if (bits) masks = bitMasks(v, p)
    else if (p.table === 'holding') words = encode(v, p)
  } catch (err) {
    throw rejectWrite(device, name, `${(err as Error).message} for type ${p.type}`)
  }
  if (fc === 6 && words.length > 1) {
    throw rejectWrite(device, name, `write_function = 6 writes one register and ${p.type} needs ${words.length}; use write_function = 16`)
  }
  let readback: WriteOutcome['readback']
  try {
    readback = await line.run(unit, async (t) => {
      if (p.table === 'coil') {
        await t.writeCoil(unit, p.address, v === true, timeout)
        const [bit] = await t.readBits(unit, 'coil', p.address, 1, timeout)
        return bit === true
      }
      if (bits && cfg.maskWrite) {
        await t.maskWriteRegister(unit, p.address, masks.and, masks.or, timeout)
      } else if (bits) {
        const [cur] = await t.readRegisters(unit, 'holding', p.address, 1, timeout)
        if (cur === undefined) throw new Error(`empty answer reading holding ${p.address} before a bit write`)
        await t.writeRegisters(unit, p.address, [applyMasks(cur, masks)], timeout, fc)
      } else {
        await t.writeRegisters(unit, p.address, words, timeout, fc)
      }
      const back = await t.readRegisters(unit, 'holding', p.address, pointWidth(p), timeout)
      return decode(back, p)
    })
  } catch (err) {
    throw modbusError(err, where)
  }
  if (!same(v, readback, p)) {
    throw rejectWrite(device, name, `device reads back ${JSON.stringify(readback)} after writing ${JSON.stringify(v)}`, { readback })
  }
  return { point: name, value: v, readback }
}

import type { ModbusDeviceConfig, ModbusPointConfig } from '../../config/sections/drivers.ts'
import type { WriteOutcome } from '../types.ts'
import { checkWrite, rejectWrite, type ValueKind } from '../write-check.ts'
import { decode, encode, encodeBitfield, pointWidth } from './codec.ts'
import { modbusError } from './errors.ts'
import type { ModbusLine } from './line.ts'

function kindOf(p: ModbusPointConfig): ValueKind {
  if (p.table === 'coil' || p.table === 'discrete' || p.type === 'bool') return 'bool'
  if (p.type === 'bitfield') return p.bits === 1 ? 'bool' : 'integer'
  if (p.type === 'string') return 'string'
  return 'number'
}

function same(a: unknown, b: unknown, p: ModbusPointConfig): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    // Scaled integers and float32 cannot hold every decimal exactly; accept one raw step / float32 precision.
    const tol = p.type === 'float32' ? Math.max(1e-6, Math.abs(a) * 1e-6) : p.type === 'float64' ? 1e-9 : Math.abs(p.scale) / 2
    return Math.abs(a - b) <= tol
  }
  return a === b
}

/**
 * Checks the value, writes it (coil, register or registers, with the point's type/order/scale reversed),
 * reads it back through the same line and confirms. Every refusal is a DRIVER_WRITE_REJECTED error.
 */
export async function writePoint(
  device: string,
  cfg: ModbusDeviceConfig,
  p: (ModbusPointConfig & { order?: ModbusPointConfig['order'] }) | undefined,
  name: string,
  value: unknown,
  line: ModbusLine,
): Promise<WriteOutcome> {
  const v = checkWrite(device, p, name, p ? kindOf(p) : 'number', value)
  if (!p) throw rejectWrite(device, name, 'no such point')
  if (p.table === 'discrete' || p.table === 'input') throw rejectWrite(device, name, `${p.table} ${p.table === 'input' ? 'registers' : 'inputs'} are read-only in Modbus`)
  const unit = cfg.unit_id
  const timeout = cfg.timeout
  const where = { device, unit, what: `write ${p.table} ${p.address}`, timeout }
  const codec = { ...p, order: p.order ?? cfg.byte_order }
  let words: number[] = []
  if (p.table === 'holding' && p.type !== 'bitfield') {
    try {
      words = encode(v, codec)
    } catch (err) {
      throw rejectWrite(device, name, `${(err as Error).message} for type ${p.type}`)
    }
  }
  let readback: WriteOutcome['readback']
  try {
    readback = await line.run(unit, async (t) => {
      if (p.table === 'coil') {
        await t.writeCoil(unit, p.address, v === true, timeout)
        const [bit] = await t.readBits(unit, 'coil', p.address, 1, timeout)
        return bit === true
      }
      if (p.type === 'bitfield') {
        const [cur] = await t.readRegisters(unit, 'holding', p.address, 1, timeout)
        let next: number
        try {
          next = encodeBitfield(cur ?? 0, v, codec)
        } catch (err) {
          throw rejectWrite(device, name, (err as Error).message)
        }
        await t.writeRegisters(unit, p.address, [next], timeout)
      } else {
        await t.writeRegisters(unit, p.address, words, timeout)
      }
      const back = await t.readRegisters(unit, 'holding', p.address, pointWidth(p), timeout)
      return decode(back, codec)
    })
  } catch (err) {
    throw modbusError(err, where)
  }
  if (!same(v, readback, p)) {
    throw rejectWrite(device, name, `device reads back ${JSON.stringify(readback)} after writing ${JSON.stringify(v)}`, { readback })
  }
  return { point: name, value: v, readback }
}

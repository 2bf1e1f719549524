import type { ModbusCommonOptions } from '../options.ts'
import { rejectWrite } from '../write-check.ts'
import { decode, encode, pointWidth, resolveOrder, type Endian, type RegisterType, type Value } from './codec.ts'
import { modbusError } from './errors.ts'
import type { ModbusLine } from './line.ts'
import { isBitTable, type Table } from './planner.ts'

/** A commissioning read or write of any register of one device (`registerCommands`). */
export interface RegisterCommand {
  op: 'read' | 'write'
  table: Table
  address: number
  count: number
  /** write: the words (holding) or the one bit (coil) to write. */
  values?: Array<number | boolean>
  /** Optional typed view: read decodes the words as this type; write encodes `value` as it. */
  type?: RegisterType
  value?: Value
  byteOrder?: Endian
  wordOrder?: Endian
}

export interface RegisterResult {
  table: Table
  address: number
  count: number
  /** What the device returned (read) or read back after writing (write). */
  values: Array<number | boolean>
  value?: Value
}

const TABLES: readonly Table[] = ['coil', 'discrete', 'input', 'holding']
const TYPES: readonly RegisterType[] = ['int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'float32', 'float64', 'string']

function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi
}

/**
 * Validates a command payload, e.g. {"table":"holding","address":100,"count":2,"type":"float32"} for a
 * read, {"table":"holding","address":100,"values":[1,2]} or {"table":"coil","address":3,"values":[true]}
 * for a write. Throws DRIVER_WRITE_REJECTED naming the problem.
 */
export function parseRegisterCommand(device: string, op: 'read' | 'write', body: unknown, cfg: Pick<ModbusCommonOptions, 'maxRegisters' | 'maxBits'>): RegisterCommand {
  const bad = (why: string): Error => rejectWrite(device, `$modbus/${op}`, why)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('expects a JSON object such as {"table":"holding","address":0,"count":1}')
  const o = body as Record<string, unknown>
  const table = (o.table ?? 'holding') as Table
  if (!TABLES.includes(table)) throw bad(`table must be one of ${TABLES.join(', ')}`)
  if (!isInt(o.address, 0, 65535)) throw bad('address must be an integer 0..65535 (0-based protocol address)')
  const type = o.type as RegisterType | undefined
  if (type !== undefined && (!TYPES.includes(type) || isBitTable(table))) throw bad(`type must be one of ${TYPES.join(', ')} on input/holding registers`)
  const endian = (k: string): Endian | undefined => {
    const v = o[k]
    if (v === undefined) return undefined
    if (v !== 'big' && v !== 'little') throw bad(`${k} must be "big" or "little"`)
    return v
  }
  const cmd: RegisterCommand = { op, table, address: o.address, count: 1 }
  const byteOrder = endian('byte_order')
  const wordOrder = endian('word_order')
  if (byteOrder) cmd.byteOrder = byteOrder
  if (wordOrder) cmd.wordOrder = wordOrder
  if (type) cmd.type = type
  const limit = isBitTable(table) ? cfg.maxBits : cfg.maxRegisters
  if (op === 'read') {
    const count = o.count ?? (type ? undefined : 1)
    if (count !== undefined && !isInt(count, 1, limit)) throw bad(`count must be an integer 1..${limit} (max_${isBitTable(table) ? 'bits' : 'registers'})`)
    cmd.count = (count as number | undefined) ?? pointWidth({ table, type: type ?? 'uint16', length: 1 })
    if (type && type !== 'string') cmd.count = Math.max(cmd.count, pointWidth({ table, type }))
    return cmd
  }
  if (table === 'input' || table === 'discrete') throw bad(`${table} ${table === 'input' ? 'registers' : 'inputs'} are read-only in Modbus`)
  if (type) {
    if (o.value === undefined) throw bad('with "type", give the value to write as "value"')
    cmd.value = o.value as Value
    if (type === 'string') {
      if (!isInt(o.count, 1, limit)) throw bad('a string write needs "count" (registers)')
      cmd.count = o.count
    } else cmd.count = pointWidth({ table, type })
    return cmd
  }
  const values = o.values ?? (o.value !== undefined ? [o.value] : undefined)
  if (!Array.isArray(values) || values.length === 0) throw bad('give "values": [...] (register words, or one boolean for a coil)')
  if (table === 'coil') {
    if (values.length !== 1 || typeof values[0] !== 'boolean') throw bad('a coil write takes one boolean: "values": [true]')
  } else {
    if (values.length > Math.min(limit, 123)) throw bad(`at most ${Math.min(limit, 123)} registers per write`)
    if (!values.every((w) => isInt(w, 0, 65535))) throw bad('register words must be integers 0..65535')
  }
  cmd.values = values as Array<number | boolean>
  cmd.count = values.length
  return cmd
}

/** Runs one register command in a single line transaction; a write is read back. */
export async function accessRegisters(device: string, cfg: Pick<ModbusCommonOptions, 'unitId' | 'timeout' | 'byteOrder' | 'wordOrder' | 'writeFunction'>, cmd: RegisterCommand, line: ModbusLine): Promise<RegisterResult> {
  const unit = cfg.unitId
  const timeout = cfg.timeout
  const codec = cmd.type ? { table: cmd.table, type: cmd.type, length: cmd.count, ...resolveOrder({ type: cmd.type, byteOrder: cmd.byteOrder, wordOrder: cmd.wordOrder }, cfg) } : null
  let words = cmd.values as number[] | undefined
  if (cmd.op === 'write' && codec) {
    try {
      words = encode(cmd.value as Value, codec)
    } catch (err) {
      throw rejectWrite(device, '$modbus/write', `${(err as Error).message} for type ${codec.type}`)
    }
  }
  const fc = cfg.writeFunction
  if (cmd.op === 'write' && fc === 6 && (words?.length ?? 0) > 1) throw rejectWrite(device, '$modbus/write', 'write_function = 6 writes one register at a time; this device is configured for FC 6 only')
  const where = { device, unit, what: `${cmd.op} ${cmd.table} ${cmd.address}..${cmd.address + cmd.count - 1}`, timeout }
  try {
    const values = await line.run(unit, async (t): Promise<Array<number | boolean>> => {
      if (cmd.op === 'write') {
        if (cmd.table === 'coil') await t.writeCoil(unit, cmd.address, cmd.values?.[0] === true, timeout)
        else await t.writeRegisters(unit, cmd.address, words ?? [], timeout, fc)
      }
      return isBitTable(cmd.table)
        ? t.readBits(unit, cmd.table as 'coil' | 'discrete', cmd.address, cmd.count, timeout)
        : t.readRegisters(unit, cmd.table as 'input' | 'holding', cmd.address, cmd.count, timeout)
    })
    const out: RegisterResult = { table: cmd.table, address: cmd.address, count: cmd.count, values }
    if (codec) {
      const v = decode(values as number[], codec)
      if (typeof v !== 'number' || Number.isFinite(v)) out.value = v
    }
    return out
  } catch (err) {
    throw modbusError(err, where)
  }
}

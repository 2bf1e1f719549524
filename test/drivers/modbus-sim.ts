import type { IServiceVector } from 'modbus-serial/ServerTCP'

type Table = 'coil' | 'discrete' | 'input' | 'holding'

function illegal(): Error {
  return Object.assign(new Error('illegal data address'), { modbusErrorCode: 2 })
}

/**
 * Register banks per unit id behind modbus-serial's server vector. Addresses never set are illegal
 * (exception 2), like a real device with holes in its map. `frozen` makes writes succeed but not stick.
 */
export class RegisterBank {
  private banks = new Map<string, number | boolean>()
  readonly requests: Array<{ unit: number; op: string; addr: number }> = []
  frozen = false

  set(unit: number, table: Table, address: number, values: Array<number | boolean>): this {
    values.forEach((v, i) => this.banks.set(`${unit}/${table}/${address + i}`, v))
    return this
  }

  get(unit: number, table: Table, address: number): number | boolean | undefined {
    return this.banks.get(`${unit}/${table}/${address}`)
  }

  private read(unit: number, table: Table, addr: number): number | boolean {
    this.requests.push({ unit, op: `read ${table}`, addr })
    const v = this.banks.get(`${unit}/${table}/${addr}`)
    if (v === undefined) throw illegal()
    return v
  }

  private write(unit: number, table: Table, addr: number, v: number | boolean): void {
    this.requests.push({ unit, op: `write ${table}`, addr })
    if (!this.banks.has(`${unit}/${table}/${addr}`)) throw illegal()
    if (!this.frozen) this.banks.set(`${unit}/${table}/${addr}`, v)
  }

  vector(): IServiceVector {
    return {
      getCoil: (a: number, u: number) => this.read(u, 'coil', a) === true,
      getDiscreteInput: (a: number, u: number) => this.read(u, 'discrete', a) === true,
      getInputRegister: (a: number, u: number) => Number(this.read(u, 'input', a)),
      getHoldingRegister: (a: number, u: number) => Number(this.read(u, 'holding', a)),
      setCoil: (a: number, v: boolean, u: number) => this.write(u, 'coil', a, v),
      setRegister: (a: number, v: number, u: number) => this.write(u, 'holding', a, v),
    }
  }
}

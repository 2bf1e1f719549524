import { deviceSchema } from '../../src/config/sections/drivers.ts'
import type { DeviceOptions, ModbusDeviceOptions, SerialDeviceOptions, SimulatedDeviceOptions } from '../../src/drivers/index.ts'
import { deviceOptions } from '../../src/gateway/options/devices.ts'

/**
 * A device written as in a config file (`[[devices]]` keys, defaults from the schema), turned into the
 * options the drivers take the way the gateway does it. Tests describe devices as users write them.
 */
export function device(raw: Record<string, unknown>): DeviceOptions {
  return deviceOptions(deviceSchema.parse(raw))
}

export function modbusDevice(raw: Record<string, unknown>): ModbusDeviceOptions {
  const d = device(raw)
  if (d.driver === 'simulated' || d.driver === 'serial') throw new TypeError(`expected a Modbus device, got driver = "${d.driver}"`)
  return d
}

export function serialDevice(raw: Record<string, unknown>): SerialDeviceOptions {
  const d = device(raw)
  if (d.driver !== 'serial') throw new TypeError(`expected a serial device, got driver = "${d.driver}"`)
  return d
}

export function simulatedDevice(raw: Record<string, unknown>): SimulatedDeviceOptions {
  const d = device(raw)
  if (d.driver !== 'simulated') throw new TypeError(`expected a simulated device, got driver = "${d.driver}"`)
  return d
}

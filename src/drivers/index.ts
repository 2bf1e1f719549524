export { createDriverHost, type DriverEvent, type DriverHost, type DriverHostOptions } from './host.ts'
export { probeDevice } from './probe.ts'
export { DriverFactory, realHardware, type Hardware } from './factory.ts'
export { SimulatedDriver } from './simulated.ts'
export { SerialDriver } from './serial/driver.ts'
export { ModbusDriver } from './modbus/driver.ts'
export { ModbusLine, type TransactionRecord } from './modbus/line.ts'
export { modbusFactory, defaultFrameGap, type ModbusTransport, type TransportFactory, type LinkSpec, type LinkCounters } from './modbus/transport.ts'
export { planReads, type ReadRequest, type PlanPoint } from './modbus/planner.ts'
export type { FieldDriver, WriteOutcome, DeviceState } from './types.ts'
export type {
  DeviceOptions,
  DeviceCommonOptions,
  PointOptions,
  SerialLineOptions,
  SimulatedDeviceOptions,
  SimulatedPointOptions,
  SerialDeviceOptions,
  SerialPointOptions,
  ModbusDeviceOptions,
  ModbusRtuDeviceOptions,
  ModbusTcpDeviceOptions,
  ModbusCommonOptions,
  ModbusPointOptions,
} from './options.ts'

import type {
  DeviceConfig,
  ModbusDeviceConfig,
  ModbusPointConfig,
  SerialDeviceConfig,
  SerialPointConfig,
  SimulatedPointConfig,
} from '../../config/sections/drivers.ts'
import type {
  DeviceCommonOptions,
  DeviceOptions,
  ModbusCommonOptions,
  ModbusPointOptions,
  PointOptions,
  SerialLineOptions,
  SerialPointOptions,
  SimulatedPointOptions,
} from '../../drivers/index.ts'

/*
 * The validated `[[devices]]` config → what the drivers take. Pure, and total: every config key has its
 * option (the camelCase of the key, same value), so a device whose config changed has changed options
 * and a reload restarts it (reload-plan.ts compares configs, the driver host compares options).
 */

/** The options of every device in the config, in config order (disabled ones too: reloads compare them). */
export function driverOptions(devices: readonly DeviceConfig[]): DeviceOptions[] {
  return devices.map(deviceOptions)
}

export function deviceOptions(d: DeviceConfig): DeviceOptions {
  switch (d.driver) {
    case 'simulated':
      return { ...common(d), driver: d.driver, points: d.points.map(simulatedPoint), seed: d.seed }
    case 'serial':
      return {
        ...common(d),
        ...serialLine(d),
        driver: d.driver,
        format: d.format,
        delimiter: d.delimiter,
        frameTimeout: d.frame_timeout,
        maxFrame: d.max_frame,
        columns: d.columns,
        separator: d.separator,
        kvSeparator: d.kv_separator,
        pattern: d.pattern,
        pollCommand: d.poll_command,
        reconnectMin: d.reconnect_min,
        reconnectMax: d.reconnect_max,
        points: d.points.map(serialPoint),
      }
    case 'modbus-rtu':
      return { ...common(d), ...serialLine(d), ...modbus(d), driver: d.driver, points: d.points.map(modbusPoint) }
    case 'modbus-tcp':
    case 'modbus-rtu-over-tcp':
      return {
        ...common(d),
        ...modbus(d),
        driver: d.driver,
        host: d.host,
        port: d.port,
        backupHost: d.backup_host,
        backupPort: d.backup_port,
        failbackInterval: d.failback_interval,
        points: d.points.map(modbusPoint),
      }
  }
}

function common(d: DeviceConfig): DeviceCommonOptions {
  return {
    id: d.id,
    enabled: d.enabled,
    topic: d.topic,
    payload: d.payload,
    qos: d.qos,
    retain: d.retain,
    pollInterval: d.poll_interval,
    jitter: d.jitter,
    deadband: d.deadband,
    maxSilence: d.max_silence,
    staleAfter: d.stale_after,
  }
}

function serialLine(d: SerialDeviceConfig | Extract<ModbusDeviceConfig, { driver: 'modbus-rtu' }>): SerialLineOptions {
  return { port: d.port, baud: d.baud, dataBits: d.data_bits, parity: d.parity, stopBits: d.stop_bits }
}

function modbus(d: ModbusDeviceConfig): ModbusCommonOptions {
  return {
    unitId: d.unit_id,
    timeout: d.timeout,
    retries: d.retries,
    maxGap: d.max_gap,
    maxRegisters: d.max_registers,
    maxBits: d.max_bits,
    byteOrder: d.byte_order,
    wordOrder: d.word_order,
    writeFunction: d.write_function,
    maskWrite: d.mask_write,
    registerCommands: d.register_commands,
    backoffMin: d.backoff_min,
    backoffMax: d.backoff_max,
    requestDelay: d.request_delay,
    frameGap: d.frame_gap,
  }
}

function point(p: SimulatedPointConfig | SerialPointConfig | ModbusPointConfig): PointOptions {
  return {
    name: p.name,
    unit: p.unit,
    qos: p.qos,
    pollInterval: p.poll_interval,
    deadband: p.deadband,
    maxSilence: p.max_silence,
    scale: p.scale,
    offset: p.offset,
    writable: p.writable,
    min: p.min,
    max: p.max,
    retain: p.retain,
  }
}

function simulatedPoint(p: SimulatedPointConfig): SimulatedPointOptions {
  return { ...point(p), kind: p.kind, start: p.start, step: p.step, low: p.low, high: p.high }
}

function serialPoint(p: SerialPointConfig): SerialPointOptions {
  return { ...point(p), field: p.field, type: p.type }
}

function modbusPoint(p: ModbusPointConfig): ModbusPointOptions {
  return {
    ...point(p),
    table: p.table,
    address: p.address,
    type: p.type,
    order: p.order,
    byteOrder: p.byte_order,
    wordOrder: p.word_order,
    length: p.length,
    bit: p.bit,
    bits: p.bits,
    decimals: p.decimals,
    writeFunction: p.write_function,
  }
}

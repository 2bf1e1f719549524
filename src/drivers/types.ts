import type { Clock, Driver, Logger, Reading, Status } from '../core/index.ts'

export type DeviceState = 'starting' | 'running' | 'error' | 'disconnected' | 'stopped'

export type StateListener = (state: DeviceState, reason?: string) => void

/** A write that went through: what was asked and what the device reported back. */
export interface WriteOutcome {
  point: string
  value: number | boolean | string
  readback: number | boolean | string
}

/** What DriverHost needs beyond the core Driver: state changes and confirmed writes. */
export interface FieldDriver extends Driver {
  onState(cb: StateListener): void
  write(point: string, value: unknown): Promise<void>
  /** Writes, reads back and returns both values; rejects with a coded error. */
  writeConfirmed(point: string, value: unknown): Promise<WriteOutcome>
  /** Modbus commissioning: read or write any register (JSON body); rejects unless the device enables it. */
  registerCommand?(op: 'read' | 'write', body: unknown): Promise<unknown>
}

export interface DriverDeps {
  logger: Logger
  clock: Clock
  random?: () => number
}

export type { Reading, Status }

import { errorMessage, isFieldgateError, type Clock, type LocalBroker, type Logger, type Message } from '../core/index.ts'
import { parseCommand } from './payload.ts'
import type { FieldDriver } from './types.ts'

interface CommandContext {
  broker: LocalBroker
  logger: Logger
  clock: Clock
  origin: string
}

/** The outcome goes to the v5 Response Topic (echoing Correlation Data) when the request names one, else to `<command topic>/result`. */
async function reply(m: Message, body: Record<string, unknown>, ctx: CommandContext): Promise<void> {
  const r: Message = {
    topic: m.properties?.responseTopic ?? `${m.topic}/result`,
    payload: Buffer.from(JSON.stringify(body)),
    qos: m.qos === 0 ? 0 : 1,
    retain: false,
    origin: ctx.origin,
    ...(m.properties?.correlationData ? { properties: { correlationData: m.properties.correlationData } } : {}),
  }
  await ctx.broker.publish(r).catch((err: unknown) => ctx.logger.warn({ err: errorMessage(err) }, 'cannot publish command result'))
}

function failure(err: unknown): { code: string; error: string } {
  return { code: isFieldgateError(err) ? err.code : 'DRIVER_WRITE_REJECTED', error: errorMessage(err) }
}

/** Handles one command message for a point: writes through the driver (checked, read back) and replies. */
export async function handleCommand(m: Message, point: string, driver: FieldDriver, ctx: CommandContext): Promise<boolean> {
  const value = parseCommand(m.payload)
  let body: Record<string, unknown>
  let ok = false
  try {
    const out = await driver.writeConfirmed(point, value)
    body = { ok: true, device: driver.id, point, value: out.value, readback: out.readback, ts: ctx.clock.now() }
    ok = true
  } catch (err) {
    const f = failure(err)
    body = { ok: false, device: driver.id, point, ...f, ts: ctx.clock.now() }
    ctx.logger.warn({ point, code: f.code, err: f.error }, 'command refused or failed')
  }
  await reply(m, body, ctx)
  return ok
}

/** Handles a commissioning read/write of any register (`register_commands = true` devices only). */
export async function handleRegisterCommand(m: Message, op: 'read' | 'write', driver: FieldDriver, ctx: CommandContext): Promise<boolean> {
  let body: Record<string, unknown>
  let ok = false
  try {
    if (!driver.registerCommand) throw new Error(`${driver.id} has no registers`)
    let request: unknown
    try {
      request = JSON.parse(m.payload.toString('utf8'))
    } catch {
      request = undefined
    }
    const out = await driver.registerCommand(op, request)
    body = { ok: true, device: driver.id, op, ...(out as Record<string, unknown>), ts: ctx.clock.now() }
    ok = true
  } catch (err) {
    const f = failure(err)
    body = { ok: false, device: driver.id, op, ...f, ts: ctx.clock.now() }
    ctx.logger.warn({ op, code: f.code, err: f.error }, 'register command refused or failed')
  }
  await reply(m, body, ctx)
  return ok
}

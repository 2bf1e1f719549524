import { errorMessage, isFieldgateError, type Clock, type LocalBroker, type Logger, type Message } from '../core/index.ts'
import { parseCommand } from './payload.ts'
import type { FieldDriver } from './types.ts'

/**
 * Handles one command message for a device: writes through the driver and publishes the outcome to the
 * v5 Response Topic (echoing Correlation Data) when the request names one, else to `<command topic>/result`.
 */
export async function handleCommand(
  m: Message,
  point: string,
  driver: FieldDriver,
  ctx: { broker: LocalBroker; logger: Logger; clock: Clock; origin: string },
): Promise<boolean> {
  const value = parseCommand(m.payload)
  let body: Record<string, unknown>
  let ok = false
  try {
    const out = await driver.writeConfirmed(point, value)
    body = { ok: true, device: driver.id, point, value: out.value, readback: out.readback, ts: ctx.clock.now() }
    ok = true
  } catch (err) {
    const code = isFieldgateError(err) ? err.code : 'DRIVER_WRITE_REJECTED'
    body = { ok: false, device: driver.id, point, code, error: errorMessage(err), ts: ctx.clock.now() }
    ctx.logger.warn({ device: driver.id, point, code, err: errorMessage(err) }, 'command refused or failed')
  }
  const responseTopic = m.properties?.responseTopic
  const reply: Message = {
    topic: responseTopic ?? `${m.topic}/result`,
    payload: Buffer.from(JSON.stringify(body)),
    qos: m.qos === 0 ? 0 : 1,
    retain: false,
    origin: ctx.origin,
    ...(m.properties?.correlationData ? { properties: { correlationData: m.properties.correlationData } } : {}),
  }
  await ctx.broker.publish(reply).catch((err: unknown) => ctx.logger.warn({ err: errorMessage(err) }, 'cannot publish command result'))
  return ok
}

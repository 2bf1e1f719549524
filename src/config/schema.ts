import * as z from 'zod'
import { crossCheck } from './cross.ts'
import { brokerSchema } from './sections/broker.ts'
import { uplinkSchema } from './sections/bridge.ts'
import { deviceSchema } from './sections/drivers.ts'
import { statusSchema } from './sections/status.ts'
import { storageSchema } from './sections/storage.ts'
import { updateSchema } from './sections/update.ts'

export const configSchema = z
  .object({
    gateway: z
      .object({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" and "-", at most 64').default('fieldgate'),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    broker: brokerSchema.prefault({}),
    storage: storageSchema.prefault({}),
    status: statusSchema.prefault({}),
    update: updateSchema.prefault({}),
    uplinks: z.array(uplinkSchema).default([]),
    devices: z.array(deviceSchema).default([]),
  })
  .strict()
  .superRefine(crossCheck)

export type Config = z.infer<typeof configSchema>

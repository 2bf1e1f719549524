import { z } from 'zod'

/** One device. The drivers issue owns the details of this schema. */
export const deviceSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-"'),
    driver: z.enum(['simulated']),
  })
  .passthrough()

export type DeviceConfig = z.infer<typeof deviceSchema>

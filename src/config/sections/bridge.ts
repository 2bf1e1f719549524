import { z } from 'zod'

/** One uplink to a cloud broker. The bridge issue owns the details of this schema. */
export const uplinkSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-"'),
    url: z.string(),
  })
  .strict()

export type UplinkConfig = z.infer<typeof uplinkSchema>

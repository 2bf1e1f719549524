import * as z from 'zod'
import { byteSize, duration } from './common.ts'

const ED25519_PUBLIC = /^[A-Za-z0-9+/]{43}=$/

export const updateSchema = z
  .object({
    /**
     * Ed25519 public keys (base64 of the 32 raw bytes, the line `fieldgate keygen` writes to FILE.pub)
     * whose signatures this gateway accepts on executable updates. Empty (default): every update is refused.
     */
    public_keys: z.array(z.string().regex(ED25519_PUBLIC, 'expected the base64 line of a .pub file from fieldgate keygen (44 characters ending in "=")')).default([]),
    /** Largest executable an update may announce; bounds the disk a download can take. */
    max_size: byteSize.default(200_000_000),
    /**
     * After an update, the new executable must be healthy (store open, listeners up, every uplink connected)
     * within this, or it exits and the previous executable is put back.
     */
    health_deadline: duration.default(120_000),
    /**
     * CA certificates (PEM) trusted for update downloads from an HTTPS URL, besides the system's: for a
     * server with a private CA. The signature, not the TLS connection, is what makes an update trusted.
     */
    ca_file: z.string().min(1).optional(),
  })
  .strict()

export type UpdateConfig = z.infer<typeof updateSchema>

/** What the gateway knows of an accepted update: enough to name its transfer and count its chunks. */
export interface TransferPlan {
  version: string
  sha256: string
  size: number
  chunkSize: number
  chunks: number
}

export type ChunkOutcome = { kind: 'written' | 'duplicate'; complete: boolean } | { kind: 'refused'; reason: string }

/** A download found on disk at start. */
export interface Resumed {
  plan: TransferPlan
  install: boolean
  /** The HTTPS URL it was being fetched from, if not over MQTT. */
  url?: string
}

/** What the gateway lends the update transfer: its receiver, checks and install (src/update), and its restart. */
export interface UpdateHost {
  /** A download found on disk at start (resumed after an outage, a crash or a restart), or null. */
  resume(): Promise<Resumed | null>
  /**
   * Checks a signed manifest against this gateway (trusted key, architecture, size, no unsigned
   * downgrade; to install, also the install preconditions) and starts or resumes its download, to
   * come over MQTT or from `url`. Throws with one line when refused: nothing changes then.
   * `unchanged`: that update is what runs.
   */
  announce(manifestText: string, install: boolean, url?: string): Promise<{ plan: TransferPlan; resumed: boolean; unchanged: boolean }>
  /** Checks chunk `index` against its signed hash and writes it; `refused`: nothing was written. */
  chunk(index: number, bytes: Buffer): Promise<ChunkOutcome>
  /** Chunk indices still missing, ascending, at most `max`. */
  missing(max: number): number[]
  /** Chunks on disk. */
  have(): number
  /** Reads the whole download back and verifies it; to install, puts it beside the running executable on trial. Throws with one line. */
  finish(install: boolean): Promise<void>
  /** Stops the gateway with the restart exit code (75), so the service manager starts the new executable on trial. */
  restart(reason: string): void
  /** CA certificates (PEM) trusted for HTTPS downloads besides the system's (update.ca_file), read now. */
  trustedCa(): string | undefined
}

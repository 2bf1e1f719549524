import { readFileSync, rmSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Config } from '../config/index.ts'
import { FieldgateError } from '../core/index.ts'
import { writeAtomic, type TransferPlan, type UpdateHost } from '../fleet/index.ts'
import { checkInstallable, checkManifest, hashFile, installUpdate, parseManifest, parsePublicKey, runningArch, UpdateReceiver, type Manifest, type TrustedKey, type UpdatePolicy } from '../update/index.ts'
import { VERSION } from '../version.ts'

/** What this gateway accepts, from its config: the trusted keys, its architecture, the size bound, its version. */
export function updatePolicy(c: Config): UpdatePolicy {
  const arch = runningArch()
  if (!arch) throw new FieldgateError('UPDATE_REFUSED', `update refused: this machine's architecture (${process.arch}) has no fieldgate builds`)
  const keys = c.update.public_keys.map((k) => parsePublicKey(k)).filter((k): k is TrustedKey => k !== null)
  return { keys, runningVersion: VERSION, arch, maxBytes: c.update.max_size }
}

function planOf(m: Manifest): TransferPlan {
  return { version: m.version, sha256: m.sha256, size: m.size, chunkSize: m.chunkSize, chunks: m.chunks.length }
}

/**
 * The update host the management channel drives (fleet/transfer.ts), on src/update: the receiver in
 * `<data_dir>/update`, the checks, the install beside the running executable `exe`. `restart` stops
 * the gateway with RESTART_EXIT_CODE. `config()` is the config running now (a reload may change [update]).
 */
export function updateHost(o: { config: () => Config; exe: string; restart: (reason: string) => void }): UpdateHost {
  let rx: UpdateReceiver | null = null
  let exeHash: { key: string; sha256: string } | null = null
  const dir = (): string => join(resolve(o.config().storage.data_dir), 'update')
  // Present while a download is only to be received and verified, not installed (`"install": false`).
  const stageOnly = (): string => join(dir(), 'stage-only')
  // The HTTPS URL a download comes from (0600: it may carry credentials), so a restart goes on with it.
  const sourceUrl = (): string => join(dir(), 'source-url')

  async function receiver(): Promise<UpdateReceiver> {
    const policy = updatePolicy(o.config())
    if (!rx) rx = await UpdateReceiver.open(dir(), policy)
    else rx.setPolicy(policy)
    return rx
  }

  /** SHA-256 of the running executable, read once per file (it is tens of MB). */
  async function runningSha256(): Promise<string | null> {
    try {
      const st = statSync(o.exe)
      const key = `${st.ino}:${st.size}:${st.mtimeMs}`
      if (exeHash?.key !== key) exeHash = { key, sha256: (await hashFile(o.exe, 1024 * 1024)).sha256 }
      return exeHash.sha256
    } catch {
      return null
    }
  }

  function setStageOnly(on: boolean): void {
    if (on) writeAtomic(stageOnly(), 'received and verified only: installed once announced with install\n', 0o644)
    else rmSync(stageOnly(), { force: true })
  }

  return {
    async resume() {
      const r = await receiver()
      const m = r.manifest
      if (!m) return null
      // Killed between the install and removing the download: that update runs now (on trial).
      if ((await runningSha256()) === m.sha256) {
        await r.discard()
        setStageOnly(false)
        rmSync(sourceUrl(), { force: true })
        return null
      }
      const read = (f: string): string => {
        try {
          return readFileSync(f, 'utf8').trim()
        } catch {
          return ''
        }
      }
      const url = read(sourceUrl())
      return { plan: planOf(m), install: read(stageOnly()) === '', ...(url ? { url } : {}) }
    },
    async announce(text, install, url) {
      const m = parseManifest(text)
      checkManifest(m, updatePolicy(o.config()))
      if ((await runningSha256()) === m.sha256) return { plan: planOf(m), resumed: false, unchanged: true }
      // What the install would refuse (no guard beside the executable, another version on trial) is refused now, before any byte is fetched.
      if (install) checkInstallable(o.exe, m)
      const r = await receiver()
      const a = await r.announce(text)
      setStageOnly(!install)
      if (url) writeAtomic(sourceUrl(), `${url}\n`, 0o600)
      else rmSync(sourceUrl(), { force: true })
      return { plan: planOf(m), resumed: a.resumed, unchanged: false }
    },
    async chunk(index, bytes) {
      const m = rx?.manifest
      if (!rx || !m) return { kind: 'refused', reason: 'no update is being received; announce it first' }
      const res = await rx.chunk(index * m.chunkSize, bytes)
      return res.kind === 'refused' ? res : { kind: res.kind, complete: res.complete }
    },
    missing(max) {
      const m = rx?.manifest
      if (!rx || !m) return []
      const out: number[] = []
      for (const g of rx.missing()) {
        for (let off = g.offset; off < g.offset + g.length && out.length < max; off += m.chunkSize) out.push(off / m.chunkSize)
        if (out.length >= max) break
      }
      return out
    },
    have() {
      return rx?.status().chunksDone ?? 0
    },
    async finish(install) {
      if (!rx) throw new FieldgateError('UPDATE_FAILED', 'update: nothing has been received')
      const v = await rx.finish()
      if (!install) return
      await installUpdate(v.file, v.manifest, { exe: o.exe, runningVersion: VERSION })
      // The installed copy sits beside the executable; the download is no longer needed (should removing it
      // fail, the next start finds it is what runs and drops it).
      await rx.discard().catch(() => undefined)
      try {
        setStageOnly(false)
        rmSync(sourceUrl(), { force: true })
      } catch {
        // as above
      }
    },
    restart: o.restart,
    trustedCa() {
      const f = o.config().update.ca_file
      if (f === undefined) return undefined
      try {
        return readFileSync(f, 'utf8')
      } catch (err) {
        throw new FieldgateError('UPDATE_FAILED', `update.ca_file ${f} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      }
    },
  }
}

import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config/index.ts'
import { errorMessage } from '../core/index.ts'
import { runningExecutable } from '../gateway/update.ts'
import { checkManifest, installUpdate, parseManifest, parsePublicKey, runningArch, updateFiles, verifyFile, type TrustedKey } from '../update/index.ts'
import { VERSION } from '../version.ts'

const USAGE = 'usage: fieldgate update FILE --manifest MANIFEST --config CONFIG [--exe EXECUTABLE]'

/**
 * `fieldgate update FILE --manifest M --config C`: the same checks and install as an update over the
 * management channel, for a file brought to the device by hand. The new version runs on trial at the
 * next restart of the service.
 */
export async function update(argv: string[]): Promise<number> {
  const fail = (msg: string, code = 1): number => {
    process.stderr.write(`fieldgate update: ${msg}\n`)
    return code
  }
  let values: { manifest?: string; config?: string; exe?: string }
  let positionals: string[]
  try {
    ;({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { manifest: { type: 'string' }, config: { type: 'string', short: 'c' }, exe: { type: 'string' } } }))
  } catch (err) {
    return fail(`${errorMessage(err)} (${USAGE})`, 2)
  }
  const [file] = positionals
  const configFile = values.config ?? process.env.FIELDGATE_CONFIG
  if (!file || positionals.length > 1 || !values.manifest || !configFile) return fail(USAGE, 2)
  try {
    const config = loadConfig(configFile).config
    const keys = config.update.public_keys.map((k) => parsePublicKey(k)).filter((k): k is TrustedKey => k !== null)
    const arch = runningArch()
    if (!arch) return fail(`this machine's architecture (${process.arch}) has no fieldgate builds`)
    let text: string
    try {
      text = readFileSync(values.manifest, 'utf8')
    } catch (err) {
      return fail(`cannot read the manifest ${values.manifest}: ${errorMessage(err)}`)
    }
    const manifest = parseManifest(text)
    checkManifest(manifest, { keys, runningVersion: VERSION, arch, maxBytes: config.update.max_size })
    await verifyFile(file, manifest)
    const exe = values.exe ?? runningExecutable()
    const r = await installUpdate(file, manifest, { exe, runningVersion: VERSION })
    process.stdout.write(`fieldgate update: version ${r.version} installed as ${exe} (${r.previousVersion} kept as ${updateFiles(exe).previous}); restart the service (sudo systemctl restart fieldgate): it must pass its health gate within ${config.update.health_deadline} ms or ${r.previousVersion} comes back\n`)
    return 0
  } catch (err) {
    return fail(errorMessage(err).replace(/\s*\n\s*/g, '; '))
  }
}
